"""``make run``'s supervision against real processes: a crashed worker is restarted and no request is lost,
and a crashed Redis is restarted on its port with its data.

The worker and the API run under the same supervisord that ``make run`` uses (``infra.supervision``,
the programs of ``infra.programs``), against the session's Kafka and Redis.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from infra import programs, readiness, stack
from infra.settings import Settings, to_env
from infra.supervision import Program, Supervisor
from infra.watch import Event, Watcher
from tests.conftest import REPO, isolated_settings

pytestmark = pytest.mark.integration

HOUSES = 300
KILL_AFTER = 100


def wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.2)


def launch(home: Path, supervised: list[Program], settings: Settings) -> Supervisor:
    supervisor = Supervisor(home, supervised, REPO)
    supervisor.launch(os.environ | to_env(settings))
    for program in supervised:
        supervisor.start(program.name)
    return supervisor


@pytest.fixture
def served(base_settings: Settings, champion: str, tmp_path: Path) -> Iterator[tuple[Settings, Supervisor]]:
    """One worker and the API under supervision, on the session's Kafka and Redis."""
    settings = isolated_settings(base_settings, api_port=stack.free_port(), rate_limit="none")
    supervised = [p for p in programs.applications(settings) if p.name in {"worker0", "api"}]
    supervisor = launch(tmp_path / "supervisor", supervised, settings)
    probes = readiness.probes(settings)
    try:
        wait_until(lambda: probes["worker0"]() and probes["api"](), 180, "worker and API up")
        yield settings, supervisor
    finally:
        supervisor.shutdown()


def house(i: int) -> dict[str, object]:
    return {"features": {"gr_liv_area": 900 + 7 * i, "year_built": 1920 + i % 80, "neighborhood": "North_Ames"}}


def test_a_killed_worker_is_restarted_and_every_request_is_answered(served: tuple[Settings, Supervisor]) -> None:
    settings, supervisor = served
    api = readiness.api_base(settings)
    watcher = Watcher()
    watcher.changes(supervisor.states())
    killed = supervisor.state("worker0").pid
    api_pid = supervisor.state("api").pid
    ids: list[str] = []
    with httpx.Client(base_url=api, timeout=30) as client:
        for i in range(HOUSES):
            if i == KILL_AFTER:
                os.killpg(killed, signal.SIGKILL)  # mid-stream: earlier requests are still being scored
            response = client.post("/api/v1/predict", json=house(i))
            assert response.status_code == 202, response.text
            ids.append(response.json()["request_id"])

        def answered() -> bool:
            return all(client.get(f"/api/v1/predictions/{i}").json()["status"] == "done" for i in ids)

        events: list[Event] = []

        def restarted() -> bool:
            events.extend(watcher.changes(supervisor.states()))
            return any("running again" in e.message or "was restarted" in e.message for e in events)

        try:
            wait_until(restarted, 120, "worker0 restarted")
        except TimeoutError as exc:  # say what supervisord saw, and what the worker last wrote
            state = supervisor.state("worker0")
            tail = Path(state.log).read_text(errors="replace")[-3000:] if Path(state.log).is_file() else "(no log)"
            raise AssertionError(f"{exc}; events {events}; now {state}; worker0 log:\n{tail}") from exc
        wait_until(answered, 300, "every request answered")
        results = [client.get(f"/api/v1/predictions/{i}").json() for i in ids]

    assert {r["status"] for r in results} == {"done"}
    assert all(r["price"] > 0 for r in results)
    now = supervisor.state("worker0")
    assert now.state == "RUNNING"
    assert now.pid != killed
    assert supervisor.state("api").pid == api_pid, "the API was restarted too"
    assert events[0].level == "warning"
    assert "worker0" in events[0].message
    assert "exited: worker0 (terminated by SIGKILL; not expected)" in supervisor.log.read_text()


def test_a_killed_redis_is_restarted_on_its_port_with_its_data(tmp_path: Path) -> None:
    port = stack.free_port()
    state = tmp_path / "state"
    supervised = [
        Program(
            name="redis",
            command=stack.redis_command(state, port),
            priority=programs.INFRA_PRIORITY,
            log=tmp_path / "redis.log",
        )
    ]
    settings = Settings(state_dir=state)
    supervisor = launch(tmp_path / "supervisor", supervised, settings)
    try:
        wait_until(lambda: stack.redis_ready(port), 30, "redis up")
        redis.Redis(port=port).set("kept", "yes")
        first = supervisor.state("redis").pid
        os.killpg(first, signal.SIGKILL)
        wait_until(
            lambda: supervisor.state("redis").pid not in {0, first} and stack.redis_ready(port), 60, "redis back"
        )
        assert redis.Redis(port=port).get("kept") == b"yes"  # AOF: the restart kept the data
    finally:
        supervisor.shutdown()
    assert not stack.port_open(port), "shutdown left Redis running"
