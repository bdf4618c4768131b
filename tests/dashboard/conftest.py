"""Fixtures of the dashboard tests: settings in the environment, a served API with a worker, a dashboard server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import streamlit as st
import uvicorn
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from api.app import create_app
from infra import stack
from infra.api_keys import hash_key
from infra.settings import Settings, get_settings, to_env
from tests.conftest import REPO, WorkerProcess, isolated_settings
from tests.dashboard import seeding

SEEDED = 300


def use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Make ``settings`` what the dashboard reads (it reads the environment, like in production)."""
    for name, value in to_env(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    st.cache_data.clear()
    return settings


def page(name: str) -> AppTest:
    return AppTest.from_string(f"from dashboard.views.{name} import main\nmain()", default_timeout=60)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="package")
def seeded_settings(base_settings: Settings) -> Settings:
    """A Redis prefix of its own holding ``SEEDED`` results (5 % failed) written by the real store."""
    settings = base_settings.model_copy(update={"redis_prefix": f"d{uuid.uuid4().hex[:8]}"})
    seeding.save(settings, seeding.fake_results(SEEDED))
    return settings


@pytest.fixture
def seeded(seeded_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return use(seeded_settings, monkeypatch)


@pytest.fixture
def empty(base_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return use(base_settings.model_copy(update={"redis_prefix": f"e{uuid.uuid4().hex[:8]}"}), monkeypatch)


@dataclass
class Stack:
    settings: Settings
    worker: WorkerProcess


def serve_api(settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{settings.api_url}/api/v1/health", timeout=5).status_code == 200:
                return server, thread
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the API did not become healthy in 60 s")
        time.sleep(0.2)


@pytest.fixture(scope="package")
def live_stack(base_settings: Settings, champion: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real API (uvicorn, own port) and one scoring worker process, shared by the package's tests."""
    port = stack.free_port()
    settings = isolated_settings(base_settings, api_port=port, api_url=f"http://127.0.0.1:{port}")
    worker = WorkerProcess(settings, 0, tmp_path_factory.mktemp("dashboard-worker"))
    worker.wait_ready()
    server, thread = serve_api(settings)
    yield Stack(settings, worker)
    server.should_exit = True
    thread.join(timeout=20)
    worker.stop()


@pytest.fixture
def served(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return use(live_stack.settings, monkeypatch)


@dataclass
class Dashboard:
    url: str
    log: Path


def serve_dashboard(settings: Settings, log: Path) -> Iterator[Dashboard]:
    """``streamlit run dashboard/app.py`` as a real server process with ``settings`` in its environment."""
    port = stack.free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=os.environ | to_env(settings),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start:\n{stack.tail(log, 40)}")
        time.sleep(0.2)
    yield Dashboard(url, log)
    stack.stop_process_group(process.pid, timeout=10.0, alive=lambda: process.poll() is None)
    process.wait()


@pytest.fixture(scope="package")
def dashboard_server(live_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard against the live stack."""
    yield from serve_dashboard(live_stack.settings, tmp_path_factory.mktemp("dashboard") / "streamlit.log")


@pytest.fixture(scope="package")
def keyed_dashboard(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dashboard, dict[str, int]]]:
    """The dashboard with two API keys configured, over results created by each key (and some by none)."""
    salt = "browser-salt"
    keys = ",".join(f"{name}:{hash_key(salt, f'secret-{name}')}" for name in ("alice", "bob"))
    settings = base_settings.model_copy(update={"redis_prefix": f"b{uuid.uuid4().hex[:8]}", "api_keys": keys})
    settings.api_key_salt = SecretStr(salt)
    counts = {"alice": 3, "bob": 5}
    for seed, (name, count) in enumerate(counts.items(), start=1):
        seeding.save_owned(settings, name, seeding.fake_results(count, seed=seed, failed_every=0))
    seeding.save(settings, seeding.fake_results(4, seed=9, failed_every=0))
    yield from ((d, counts) for d in serve_dashboard(settings, tmp_path_factory.mktemp("keyed") / "streamlit.log"))
