"""With API keys configured the dashboard acts for a key: it asks for one, and every page shows only
what that key created (the operator sees everything); without a key it shows nothing."""

from __future__ import annotations

import uuid

import pytest
from streamlit.testing.v1 import AppTest

from infra.api_keys import hash_key
from infra.settings import Settings
from tests.conftest import REPO
from tests.dashboard import seeding
from tests.dashboard.conftest import page, use

pytestmark = pytest.mark.integration
SALT = "dashboard-salt"
KEYS = {name: f"secret-{name}" for name in ("alice", "bob", "ops")}


def keyed(base: Settings) -> Settings:
    spec = ",".join(f"{name}:{hash_key(SALT, key)}" for name, key in KEYS.items())
    settings = base.model_copy(
        update={
            "redis_prefix": f"k{uuid.uuid4().hex[:8]}",
            "api_keys": spec,
            "api_operator_key_id": "ops",
        }
    )
    settings.api_key_salt = type(settings.api_key_salt)(SALT)
    return settings


@pytest.fixture
def two_keys(base_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = use(keyed(base_settings), monkeypatch)
    seeding.save_owned(settings, "alice", seeding.fake_results(6, seed=1, failed_every=0))
    seeding.save_owned(settings, "bob", seeding.fake_results(9, seed=2, failed_every=0))
    seeding.save(settings, seeding.fake_results(4, seed=3, failed_every=0))  # straight from Kafka: no owner
    return settings


def as_key(name: str | None, view: str) -> AppTest:
    at = page(view)
    if name is not None:
        at.session_state["api_key"] = KEYS[name]
    return at.run()


def shown_ids(at: AppTest) -> set[str]:
    return set(at.dataframe[0].value["request_id"])


@pytest.mark.parametrize("view", ["history", "analytics", "live"])
def test_each_key_sees_only_its_own_results(two_keys: Settings, view: str) -> None:
    seen = {}
    for name in ("alice", "bob", "ops"):
        at = as_key(name, view)
        assert not at.exception, at.exception
        seen[name] = at
    if view == "history":
        assert {i.split("-")[0] for i in shown_ids(seen["alice"])} == {"r1"}
        assert {i.split("-")[0] for i in shown_ids(seen["bob"])} == {"r2"}
        assert {i.split("-")[0] for i in shown_ids(seen["ops"])} == {"r1", "r2", "r3"}
    captions = {name: " ".join(c.value for c in at.caption) for name, at in seen.items()}
    if view == "analytics":
        assert "6 newest" in captions["alice"]
        assert "9 newest" in captions["bob"]
        assert "19 newest" in captions["ops"]
    if view == "live":
        assert next(m.value for m in seen["alice"].metric) == "6"
        assert next(m.value for m in seen["bob"].metric) == "9"


def test_a_key_cannot_look_up_another_keys_request(two_keys: Settings) -> None:
    at = as_key("bob", "history")
    at.text_input(key="history_search").input("r1-000001").run()
    assert not at.exception
    assert any("No record" in i.value for i in at.info)


def test_the_app_asks_for_a_key_and_shows_nothing_without_one(two_keys: Settings) -> None:
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("needs an API key" in i.value for i in at.info)
    assert not at.dataframe
    at.sidebar.text_input(key="api_key_input").input("not-a-key").run()
    assert any("not valid" in e.value for e in at.error)
    at.sidebar.text_input(key="api_key_input").input(KEYS["alice"]).run()
    assert any("Signed in as **alice**" in c.value for c in at.sidebar.caption)
