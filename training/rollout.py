"""``python -m training promote`` and ``rollback``: the promotion guard on live figures, then the alias move.

The guard's figures are the sale prices fed back for requests both versions valued (``state.rollout``);
the move and its log are the registry's (``registry.rollout``).
"""

from __future__ import annotations

import asyncio

from infra.settings import Settings
from registry.client import configure
from registry.errors import NoVersionError
from registry.guard import decide_live_promotion
from registry.rollout import promote_challenger, version_of
from schemas.rollout import PromotionVerdict, RolloutEvent
from state import State


class PromotionRefusedError(RuntimeError):
    """The guard refused, and ``--force`` was not given."""

    def __init__(self, verdict: PromotionVerdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


async def _verdict(settings: Settings, champion: str, challenger: str) -> PromotionVerdict:
    store = State.connect(settings)
    try:
        paired = await store.rollout.paired(champion, challenger)
    finally:
        await store.close()
    return decide_live_promotion(paired, settings.promotion_min_sales)


def guard(settings: Settings) -> tuple[str, PromotionVerdict | None]:
    """The challenger's version and the guard's verdict (None: no champion to compare with)."""
    client = configure(settings)
    challenger = version_of(client, settings, settings.challenger_alias)
    if challenger is None:
        raise NoVersionError(f"no version holds models:/{settings.model_name}@{settings.challenger_alias}")
    champion = version_of(client, settings, settings.model_alias)
    if champion is None:
        return challenger, None
    return challenger, asyncio.run(_verdict(settings, champion, challenger))


def promote(settings: Settings, *, force: bool = False, reason: str | None = None) -> RolloutEvent:
    """Move the challenger to champion if the guard agrees, or on ``force`` (whose ``reason`` is tagged)."""
    _, verdict = guard(settings)
    if force:
        if not reason:
            raise ValueError("--force needs --reason")
        return promote_challenger(settings, reason, forced=True)
    if verdict is not None and not verdict.promote:
        raise PromotionRefusedError(verdict)
    return promote_challenger(settings, "no champion to compare with" if verdict is None else verdict.reason)
