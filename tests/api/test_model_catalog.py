"""The registry catalog runs at most one lookup at a time: a caller that stops waiting (a scrape gives the
registry two seconds) leaves the lookup for the next caller to join, not a thread behind and another one
started; a lookup that fails after every caller left is not reported as an unseen error."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any, cast

import pytest

from api.model_info import ModelCatalog
from infra.settings import Settings
from registry.errors import RegistryError
from schemas.registry import ModelPublic

ANSWER = cast(ModelPublic, object())


class SlowRegistry(ModelCatalog):
    """A catalog whose lookups block until ``release`` is set, then answer or fail."""

    def __init__(self, fails: bool) -> None:
        super().__init__(Settings())
        self.release = threading.Event()
        self.lookups = 0
        self.fails = fails

    def _lookup(self) -> ModelPublic:
        self.lookups += 1
        assert self.release.wait(30), "the test never released the lookup"
        if self.fails:
            raise RegistryError("MLflow at sqlite:///nowhere is not available")
        return ANSWER


def test_callers_that_stop_waiting_share_one_lookup_and_its_answer_is_kept() -> None:
    catalog = SlowRegistry(fails=False)

    async def scenario() -> ModelPublic:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(catalog.champion(), 0.05)
        catalog.release.set()
        return await catalog.champion()

    assert asyncio.run(scenario()) is ANSWER
    assert catalog.lookups == 1


def test_a_lookup_that_fails_after_every_caller_left_is_not_an_unseen_error() -> None:
    catalog = SlowRegistry(fails=True)
    unhandled: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(catalog.champion(), 0.05)
        catalog.release.set()
        assert catalog._pending is not None
        await asyncio.wait([catalog._pending])  # the lookup ends in its error, with no caller left
        catalog._pending = None
        gc.collect()
        with pytest.raises(RegistryError):
            await catalog.champion()  # the next caller starts a new lookup and sees its error

    asyncio.run(scenario())
    assert catalog.lookups == 2
    assert unhandled == []
