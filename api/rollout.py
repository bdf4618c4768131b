"""The rollout's live figures for ``GET /model``: each variant's latency and accuracy on sales fed back,
the challenger's price differences from the champion's on the same requests, and both versions' accuracy
on the same sales, which the promotion guard compares (from ``state``)."""

from __future__ import annotations

import asyncio

import structlog

from api.feedback import clear_rollout_gauges, export_live, export_paired
from api.model_info import ModelCatalog
from registry.errors import RegistryError
from schemas import Variant
from schemas.rollout import RolloutPublic, VariantFigures
from state import State

log = structlog.get_logger(__name__)
REGISTRY_WAIT_SECONDS = 2.0
"""How long a scrape waits for the registry's answer (cached for 15 s) before it leaves the rollout gauges."""


def served_versions(champion: str, rollout: RolloutPublic) -> list[tuple[Variant, str]]:
    """The champion's version, then the challenger's when there is one other than the champion."""
    served: list[tuple[Variant, str]] = [("champion", champion)]
    if rollout.challenger is not None and rollout.challenger != champion:
        served.append(("challenger", rollout.challenger))
    return served


async def live_rollout(store: State, champion: str, rollout: RolloutPublic) -> RolloutPublic:
    """``rollout`` (as the registry describes it) with the figures Redis holds for its versions."""
    served = served_versions(champion, rollout)
    variants = [
        VariantFigures(
            variant=variant,
            version=version,
            latency=await store.rollout.latency(version),
            accuracy=await store.rollout.accuracy(version),
        )
        for variant, version in served
    ]
    if len(served) == 1:
        return rollout.model_copy(update={"variants": variants})
    challenger = served[1][1]
    differences = await store.rollout.differences(champion, challenger)
    paired = await store.rollout.paired(champion, challenger)
    return rollout.model_copy(update={"variants": variants, "differences": differences, "paired": paired})


async def export_rollout(store: State, catalog: ModelCatalog) -> None:
    """Each variant's live figures and both versions' figures on the same sales into the gauges, read from
    Redis for the versions the registry serves now: every API replica shows the same figures, whichever
    handled the sales. ``StoreUnavailableError`` passes to the caller; a registry that does not answer in
    ``REGISTRY_WAIT_SECONDS`` leaves the gauges as they are."""
    try:
        model = await asyncio.wait_for(catalog.champion(), REGISTRY_WAIT_SECONDS)
    except (RegistryError, TimeoutError) as exc:
        log.warning("rollout_refresh_skipped", error=str(exc) or type(exc).__name__)
        return
    if model.rollout is None:
        return
    served = served_versions(model.version, model.rollout)
    accuracies = [(variant, await store.rollout.accuracy(version)) for variant, version in served]
    paired = await store.rollout.paired(served[0][1], served[1][1]) if len(served) == 2 else None
    clear_rollout_gauges()  # versions served no more, or in another role, drop out; no await until all are set
    for variant, accuracy in accuracies:
        export_live(variant, accuracy)
    if paired is not None:
        export_paired(paired)
