"""Live feed: the newest results from the Redis stream, refreshed in place."""

from __future__ import annotations

import json
from typing import Any, cast

import pandas as pd
import redis
import streamlit as st

from infra.settings import Settings, get_settings
from schemas.keys import RedisKeys


@st.cache_resource
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1.0)


def newest_results(settings: Settings, count: int) -> pd.DataFrame:
    client = redis_client(settings.redis_url)
    entries = cast(
        "list[tuple[str, dict[str, Any]]]", client.xrevrange(RedisKeys(settings.redis_prefix).feed, count=count)
    )
    rows = []
    for _, fields in entries:
        result = json.loads(fields["result"])
        rows.append(
            {
                "request_id": result["request_id"],
                "status": result["status"],
                "price": result.get("price"),
                "source": result.get("source"),
                "model": (result.get("model") or {}).get("version"),
                "submitted_at": result["timings"]["submitted_at"],
            }
        )
    return pd.DataFrame(rows)


@st.fragment(run_every=2)
def live_table(settings: Settings) -> None:
    try:
        frame = newest_results(settings, 200)
    except redis.RedisError as exc:
        st.warning(f"Redis is not reachable ({type(exc).__name__}); retrying.")
        return
    if frame.empty:
        st.info("No results yet: submit a house through the API.")
        return
    st.metric("results shown", len(frame))
    st.dataframe(frame, use_container_width=True, hide_index=True)


def main() -> None:
    st.set_page_config(page_title="valuestream", layout="wide")
    st.title("valuestream — live feed")
    live_table(get_settings())
