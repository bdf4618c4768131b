"""Each served version's valuations get its own version's recalibration (champion and challenger alike)."""

from __future__ import annotations

import asyncio
import math
from typing import cast

import numpy as np
import pytest

from consumers.recalibration import Recalibrator
from infra.recalibration import Adjustments, term
from schemas import Interval, PropertyFeatures
from schemas.calibration import Grouping
from state.calibration import CalibrationStore

HOUSE = PropertyFeatures(gr_liv_area=1500, year_built=1990, neighborhood="North_Ames")
INTERVALS = [Interval(level=0.8, lower=90_000, upper=110_000), Interval(level=0.9, lower=80_000, upper=120_000)]
BOUNDS = {i.level: (np.array([i.lower]), np.array([i.upper])) for i in INTERVALS}
PRICE = np.array([100_000.0])
EDGES = (140_000.0, 195_000.0)


class Store:
    """The calibration state of each version, as ``CalibrationStore.adjustments`` answers it."""

    def __init__(self, states: dict[str, Adjustments]) -> None:
        self.states = states

    async def adjustments(self, version: str) -> Adjustments:
        return self.states.get(version, Adjustments())


def widened(factor: float) -> Adjustments:
    """The 90 % level's terms of an existing, ungraded house at ``factor`` (a log factor)."""
    bands: tuple[tuple[Grouping, str], ...] = (("construction", "existing"), ("grade", "ungraded"))
    return Adjustments({term(0.9, grouping, band): factor for grouping, band in bands})


def test_each_version_is_recalibrated_by_its_own_state_only() -> None:
    store = Store({"1": Adjustments(), "2": widened(0.3)})
    recalibrator = Recalibrator(cast(CalibrationStore, store), EDGES)
    asyncio.run(recalibrator.refresh("1", "2"))
    assert recalibrator.versions == {"1", "2"}
    champion, _ = recalibrator.apply("1", [HOUSE.sale_condition], [HOUSE.overall_qual], PRICE, BOUNDS)
    challenger, segments = recalibrator.apply("2", [HOUSE.sale_condition], [HOUSE.overall_qual], PRICE, BOUNDS)
    assert list(champion) == [0.8, 0.9]
    assert [b[0] for lower_upper in champion.values() for b in lower_upper] == pytest.approx(
        [b for i in INTERVALS for b in (i.lower, i.upper)]
    )
    lower, upper = challenger[0.9]
    assert upper[0] == pytest.approx(100_000 * 1.2 ** math.exp(0.6), rel=1e-6)  # log radius x e^(0.3 + 0.3)
    assert lower[0] < 80_000
    assert (segments[0].construction, segments[0].grade) == ("existing", "ungraded")

    # A version no longer served is forgotten; an unknown one is served as the model says.
    asyncio.run(recalibrator.refresh("1"))
    assert recalibrator.versions == {"1"}
    assert recalibrator.apply("2", [HOUSE.sale_condition], [HOUSE.overall_qual], PRICE, BOUNDS)[0] is BOUNDS
