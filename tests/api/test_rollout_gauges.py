"""The rollout gauges' refresh on a scrape when the registry cannot say which versions are served: the
gauges are left as they are and the scrape goes on (the refresh from Redis is tested on the real stack in
``tests/rollout/test_shadow.py``)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from prometheus_client import REGISTRY

from api import rollout
from api.feedback import export_live
from api.model_info import ModelCatalog
from registry.errors import RegistryError
from schemas.registry import ModelPublic
from schemas.rollout import LiveAccuracy
from state import State


class Away:
    """A catalog whose registry fails at once, or answers only after ``seconds``."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    async def champion(self) -> ModelPublic:
        if self.seconds is None:
            raise RegistryError("MLflow at sqlite:///nowhere is not available")
        await asyncio.sleep(self.seconds)
        raise AssertionError("the scrape should have stopped waiting")


def sales(version: str) -> float | None:
    return REGISTRY.get_sample_value(
        "valuestream_model_variant_sales", {"variant": "champion", "model_version": version}
    )


@pytest.mark.parametrize("seconds", [None, 30.0])
def test_a_registry_that_fails_or_hangs_leaves_the_gauges_and_the_scrape_goes_on(
    seconds: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollout, "REGISTRY_WAIT_SECONDS", 0.2)
    export_live("champion", LiveAccuracy(version="g1", sales=7, total=7, median_abs_pct_error=5.0))
    # A hang past the wait would end in Away's AssertionError, 30 s later.
    asyncio.run(rollout.export_rollout(cast(State, None), cast(ModelCatalog, Away(seconds))))
    assert sales("g1") == 7.0
