"""Session services for the whole suite: a real Kafka (KRaft) and a real Redis on free ports.

They start only when a test asks for them, and a failure to start errors every such test
loudly (``StackError`` with the service's log); nothing is skipped. Everything started here
is stopped at the end of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
import redis

from infra import stack
from infra.settings import Settings, to_env
from infra.topics import ensure_settings_topics
from schemas.api import WorkerHeartbeat
from state.keys import Keys

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".state" / "cache"


def say(config: pytest.Config, line: str) -> None:
    """Write to the terminal past output capture, so the session log shows the services start."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bulk-fault-rows",
        type=int,
        default=60_000,
        help="Rows of the bulk fault test (tests/consumers/test_bulk_faults.py); 1000000 is the issue's size.",
    )
    parser.addoption(
        "--fault-requests",
        type=int,
        default=20_000,
        help="Requests streamed through each three-broker fault test (tests/cluster/test_faults.py).",
    )


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka(stack_dir: Path, pytestconfig: pytest.Config) -> Iterator[stack.Service]:
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    service = stack.start_kafka(stack_dir, stack.free_port(), partitions=6, cache_dir=CACHE)
    say(pytestconfig, f"\n[stack] Apache Kafka (KRaft) up on {service.address} in {time.monotonic() - started:.1f} s")
    yield service
    service.stop()
    say(pytestconfig, "[stack] Kafka stopped")


@pytest.fixture(scope="session")
def redis_service(stack_dir: Path, pytestconfig: pytest.Config) -> Iterator[stack.Service]:
    service = stack.start_redis(stack_dir, stack.free_port())
    version = redis.Redis(port=service.port).info("server")["redis_version"]
    say(pytestconfig, f"\n[stack] Redis {version} up on {service.address}")
    yield service
    service.stop()
    say(pytestconfig, "[stack] Redis stopped")


@pytest.fixture(scope="session")
def base_settings(kafka: stack.Service, redis_service: stack.Service, stack_dir: Path) -> Settings:
    settings = Settings(
        kafka_bootstrap=kafka.address,
        redis_url=f"redis://127.0.0.1:{redis_service.port}/0",
        state_dir=stack_dir / "state",
        model_poll_seconds=1.0,
        worker_metrics_port=0,
        log_format="json",
    )
    settings.state_path.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.fixture(scope="session")
def champion(base_settings: Settings) -> str:
    """A real model (quick mode) registered under the serving alias in the session's MLflow."""
    from training.pipeline import train

    outcome = train(base_settings, quick=True)
    assert outcome.promoted
    return outcome.version


def isolated_settings(base: Settings, **overrides: object) -> Settings:
    """The session's services with topics, group and key prefix of one test's own."""
    tag = uuid.uuid4().hex[:8]
    fields = base.model_dump() | {
        "requests_topic": f"requests-{tag}",
        "results_topic": f"results-{tag}",
        "dlq_topic": f"dlq-{tag}",
        "consumer_group": f"workers-{tag}",
        "redis_prefix": f"t{tag}",
    }
    settings = Settings(**(fields | overrides))
    asyncio.run(ensure_settings_topics(settings, [settings.requests_topic, settings.results_topic, settings.dlq_topic]))
    return settings


@pytest.fixture
def settings(base_settings: Settings, champion: str) -> Settings:
    return isolated_settings(base_settings)


class ConsumerProcess:
    """``python -m consumers ARGS`` as a real child process with the test's settings, logging to a file."""

    def __init__(self, settings: Settings, name: str, args: list[str], log_dir: Path) -> None:
        self.settings = settings
        self.name = name
        self.log = log_dir / f"{self.name}-{uuid.uuid4().hex[:6]}.log"
        env = os.environ | to_env(settings)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumers", *args, "--metrics-port", "0"],
            cwd=REPO,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is committed on the way out."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stack.stop_process_group(self.process.pid, timeout=20.0, alive=lambda: self.process.poll() is None)
        self.process.wait()


class WorkerProcess(ConsumerProcess):
    """A scoring worker (``python -m consumers --index N``)."""

    def __init__(self, settings: Settings, index: int, log_dir: Path) -> None:
        super().__init__(settings, f"worker-{index}", ["--index", str(index)], log_dir)

    def wait_ready(self, timeout: float = 90.0) -> WorkerHeartbeat:
        client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True)
        pattern = Keys(self.settings.redis_prefix).worker(f"{self.name}@*")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{stack.tail(self.log, 60)}")
            for key in client.scan_iter(match=pattern):
                raw = client.get(key)
                if raw:
                    return WorkerHeartbeat.model_validate_json(raw)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout} s:\n{stack.tail(self.log, 60)}")


class ShadowProcess(ConsumerProcess):
    """The shadow scorer (``python -m consumers --shadow``)."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        super().__init__(settings, "shadow", ["--shadow"], log_dir)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until it logged ``shadow_ready`` (it writes no heartbeat: it answers nothing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"shadow exited with {self.process.returncode}:\n{stack.tail(self.log, 60)}")
            if '"shadow_ready"' in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"shadow not ready within {timeout} s:\n{stack.tail(self.log, 60)}")


class StartShadow(Protocol):
    def __call__(self, settings: Settings, wait: bool = True) -> ShadowProcess: ...


@pytest.fixture
def start_shadow(tmp_path: Path) -> Iterator[StartShadow]:
    """The shadow scorer, started as ``make run`` and the deployments start it beside the workers."""
    started: list[ShadowProcess] = []

    def start(settings: Settings, wait: bool = True) -> ShadowProcess:
        shadow = ShadowProcess(settings, tmp_path)
        started.append(shadow)
        if wait:
            shadow.wait_ready()
        return shadow

    yield start
    for shadow in started:
        shadow.stop()


class StartWorker(Protocol):
    def __call__(self, settings: Settings, index: int = 0, wait: bool = True) -> WorkerProcess: ...


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    started: list[WorkerProcess] = []

    def start(settings: Settings, index: int = 0, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(settings, index, tmp_path)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
