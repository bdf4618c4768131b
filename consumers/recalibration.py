"""The workers' side of the intervals' online recalibration: read the state, apply it to each valuation.

The state (``state.calibration``) is read every ``VALUESTREAM_CALIBRATION_POLL_SECONDS`` for each
version being served (the champion's, and the challenger's, which answers a canary's share); a
valuation is recalibrated with its own version's snapshot only, so a model switch serves the new
version's own intervals until its state is read, and a canary answer of the challenger never gets
the champion's corrections.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from infra.recalibration import Adjustments, Bounds, model_bounds, row_intervals, segments_of
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
        self,
        version: str,
        sale_conditions: Sequence[str],
        grades: Sequence[str | None],
        price: np.ndarray,
        bounds: Bounds,
    ) -> tuple[Bounds, list[Segment]]:
        """A batch's intervals (one column per bound) rescaled by ``version``'s state, and each row's
        segment (from its ``sale_condition``, ``overall_qual`` and price)."""
        segments = segments_of(sale_conditions, grades, price, self.price_edges)
        snapshot = self._snapshots.get(version)
        if snapshot is None:
            return bounds, segments
        return snapshot.apply_columns(price, bounds, segments), segments


def served_intervals(
    recalibrator: Recalibrator | None, version: str, houses: Sequence[PropertyFeatures], output: pd.DataFrame
) -> tuple[list[list[Interval]], list[Segment | None]]:
    """Each row's intervals as ``version`` serves them (its state applied by ``recalibrator``) and each
    row's segment; without a recalibrator, as the model says, and no segments."""
    bounds = model_bounds(output)
    if recalibrator is None:
        return row_intervals(bounds), [None] * len(houses)
    price = output["price"].to_numpy(float)
    conditions, grades = [h.sale_condition for h in houses], [h.overall_qual for h in houses]
    bounds, segments = recalibrator.apply(version, conditions, grades, price, bounds)
    return row_intervals(bounds), list(segments)
