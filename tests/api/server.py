"""The API under a real uvicorn on a free port, for tests that need real HTTP (concurrent clients, fuzzing)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from api.app import create_app
from infra import stack
from infra.settings import Settings


@contextmanager
def served(settings: Settings, start_timeout: float = 60.0) -> Iterator[str]:
    """The API's base URL once it answers and its producer is connected to Kafka; stopped after."""
    port = stack.free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while not (server.started and getattr(app.state, "publisher", None) and app.state.publisher.connected):
        assert time.monotonic() < deadline, "uvicorn did not start, or its producer did not connect to Kafka"
        time.sleep(0.1)
    assert httpx.get(f"{url}/api/v1/health/live").status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
