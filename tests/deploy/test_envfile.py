"""``.env.example`` is the rendering of the settings object, so it names every setting with its default."""

from __future__ import annotations

from infra.settings import GROUPS, Settings
from tests.deploy.envfile import ENV_EXAMPLE, env_name, render
from tests.deploy.support import settings_from_env


def parse_env(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_env_example_is_generated_from_settings() -> None:
    assert ENV_EXAMPLE.read_text() == render(), (
        "`.env.example` is out of date with infra.settings.Settings: run `.venv/bin/python -m tests.deploy.envfile`"
    )


def test_env_example_lists_every_setting_once_with_a_valid_default() -> None:
    env = parse_env(ENV_EXAMPLE.read_text())
    assert set(env) == {env_name(name) for name in Settings.model_fields}
    settings = settings_from_env(env)
    assert settings.model_dump() == Settings.model_construct().model_dump()


def test_every_setting_belongs_to_exactly_one_group() -> None:
    grouped = [name for group in GROUPS for name in group.model_fields]
    assert sorted(grouped) == sorted(Settings.model_fields)
    assert len(grouped) == len(set(grouped))
