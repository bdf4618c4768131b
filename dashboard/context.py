"""What every page needs: the settings, the state store and the API client, built once per process.

Streamlit runs each script in a thread of its own; the state package is asynchronous. One event
loop in a background thread owns the store's connections, and pages run their reads on it
(``run``), so every page shares one pool of connections and one implementation of each read.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import streamlit as st

from infra.settings import Settings, get_settings
from state import State, StoreUnavailableError

T = TypeVar("T")
STORE_DOWN = "The result store (Redis) is not reachable ({error}). The page will work again as soon as it is back."
READ_TIMEOUT_SECONDS = 10.0


def settings() -> Settings:
    return get_settings()


@st.cache_resource(show_spinner=False)
def _loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="state-loop", daemon=True).start()
    return loop


@st.cache_resource(show_spinner=False)
def _state(redis_url: str, prefix: str) -> State:
    return State.connect(settings().model_copy(update={"redis_url": redis_url, "redis_prefix": prefix}))


def state() -> State:
    conf = settings()
    return _state(conf.redis_url, conf.redis_prefix)


def run(call: Coroutine[Any, Any, T]) -> T:
    """Run a state read on the store's loop and wait for it; a stuck store is ``StoreUnavailableError``."""
    future = asyncio.run_coroutine_threadsafe(call, _loop())
    try:
        return future.result(READ_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        future.cancel()
        raise StoreUnavailableError(f"no answer within {READ_TIMEOUT_SECONDS:.0f} s") from exc


@st.cache_resource(show_spinner=False)
def http_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(15.0, connect=2.0))


def store_down(error: Exception) -> None:
    st.warning(STORE_DOWN.format(error=error))
