"""The workers' side of the intervals' online recalibration: read the state, apply it to each valuation.

The state (``state.calibration``) is read every ``VALUESTREAM_CALIBRATION_POLL_SECONDS`` for the
version being served; a snapshot is applied only to valuations of the version it was read for,
so a model switch serves the new version's own intervals until its state is read.
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
        self._snapshot: tuple[str, Adjustments] | None = None

    async def refresh(self, version: str) -> None:
        if self.store is not None:
            self._snapshot = (version, await self.store.adjustments(version))

    def apply(
        self, version: str, features: PropertyFeatures, price: float, intervals: Sequence[Interval]
    ) -> tuple[list[Interval], Segment]:
        segment = segment_of(features.sale_condition, features.overall_qual, price, self.price_edges)
        if self._snapshot is None or self._snapshot[0] != version:
            return list(intervals), segment
        return self._snapshot[1].apply(price, intervals, segment), segment
