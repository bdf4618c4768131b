"""The rollout's live figures for ``GET /model``: each variant's latency and accuracy on sales fed back,
the challenger's price differences from the champion's on the same requests, and both versions' accuracy
on the same sales, which the promotion guard compares (from ``state``)."""

from __future__ import annotations

from schemas import Variant
from schemas.rollout import RolloutPublic, VariantFigures
from state import State


async def live_rollout(store: State, champion: str, rollout: RolloutPublic) -> RolloutPublic:
    """``rollout`` (as the registry describes it) with the figures Redis holds for its versions."""
    served: list[tuple[Variant, str]] = [("champion", champion)]
    if rollout.challenger is not None and rollout.challenger != champion:
        served.append(("challenger", rollout.challenger))
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
