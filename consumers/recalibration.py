"""The workers' side of the intervals' online recalibration: read the state, apply it to each valuation.

The state (``state.calibration``) is read every ``VALUESTREAM_CALIBRATION_POLL_SECONDS`` for each
version being served (the champion's, and the challenger's, which answers a canary's share); a
valuation is recalibrated with its own version's snapshot only, so a model switch serves the new
version's own intervals until its state is read, and a canary answer of the challenger never gets
the champion's corrections.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.recalibration import Adjustments, segment_of
from schemas import Interval, PropertyFeatures
from schemas.calibration import Segment
from state.calibration import CalibrationStore


class Recalibrator:
    def __init__(self, store: CalibrationStore | None, price_edges: tuple[float, float]) -> None:
        self.store = store
        self.price_edges = price_edges
        self._snapshots: dict[str, Adjustments] = {}

    async def refresh(self, *versions: str) -> None:
        """Read the state of ``versions`` (those served now); a version no longer served is forgotten."""
        if self.store is not None:
            fresh = {version: await self.store.adjustments(version) for version in dict.fromkeys(versions)}
            self._snapshots = fresh

    @property
    def versions(self) -> set[str]:
        """The versions with a snapshot."""
        return set(self._snapshots)

    def apply(
        self, version: str, features: PropertyFeatures, price: float, intervals: Sequence[Interval]
    ) -> tuple[list[Interval], Segment]:
        segment = segment_of(features.sale_condition, features.overall_qual, price, self.price_edges)
        snapshot = self._snapshots.get(version)
        if snapshot is None:
            return list(intervals), segment
        return snapshot.apply(price, intervals, segment), segment
