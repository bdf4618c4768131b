"""What every page needs: the settings and the clients, built once per process."""

from __future__ import annotations

import httpx
import redis
import streamlit as st

from infra.settings import Settings, get_settings
from schemas.keys import RedisKeys

REDIS_DOWN = "Redis is not reachable ({error}). The page will work again as soon as it is back."


def settings() -> Settings:
    return get_settings()


def keys() -> RedisKeys:
    return RedisKeys(settings().redis_prefix)


@st.cache_resource(show_spinner=False)
def redis_client(url: str) -> redis.Redis:
    """A synchronous client (Streamlit runs scripts in threads); it reconnects by itself after an outage."""
    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1.0, socket_timeout=3.0)


def store() -> redis.Redis:
    return redis_client(settings().redis_url)


@st.cache_resource(show_spinner=False)
def http_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(15.0, connect=2.0))


def redis_down(error: Exception) -> None:
    st.warning(REDIS_DOWN.format(error=type(error).__name__))
