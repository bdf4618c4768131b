"""The applicability guard: does a house lie inside the model's experience (its training sales)?

Fitted with the model on the very sales it was trained on, and pickled inside the pyfunc, so a
model trained on another market (``make train DATA=...``) carries that market's area and ranges.

Each valuation is checked for:

* **location**: the coordinates against the convex hull of the training sales' coordinates.
  Inside: fine. Up to ``REFUSE_BEYOND_KM`` outside it: flagged (the edge of town). Further:
  refused, for that is another market (New York, or Des Moines 50 km from Ames), which the
  model knows nothing about. Houses without coordinates are placed at their neighbourhood's
  centre by the encoder and are not checked, nor is any location when the training sales
  have no coordinates.
* **numeric fields** against the smallest and largest value among the training sales;
* **categorical levels** that no training sale has (the model cannot learn a level it never
  saw: it values such a house as if the level were absent);
* **an unusual combination**: the Mahalanobis distance of the house's standardised numeric
  fields (log areas) under a Ledoit-Wolf covariance of the training houses; the ``novelty``
  answered is the share of training houses closer to the centre, and above
  ``NOVELTY_FLAG`` the house is flagged;
* **the valuation date** (``year_sold``/``mo_sold``): before the first training sale it is
  flagged; more than ``MAX_MONTHS_BEYOND`` months after the latest it is refused (no drift
  allowance covers decades); in between the answer says how many months beyond its data the
  model is (``months_beyond_data``) and the valuer widens the intervals for it.

A flagged house is still valued, with Low confidence and wider intervals (see ``serving.py``);
a refused one is a failed result with the reason, which the API's wait answers as a 422.
Market-independent nonsense (a negative area, a year 3000) never gets here: the request schema
(``schemas/features.py``) refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Self, get_args, get_origin

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, Delaunay
from sklearn.covariance import LedoitWolf

from schemas import PropertyFeatures
from training.features import CATEGORICAL, PLAIN_NUMERIC, Columns, FrameColumns, columns_of, to_km

REFUSE_BEYOND_KM = 5.0
"""Distance outside the training sales' area beyond which a location is another market."""
MAX_MONTHS_BEYOND = 60
"""Longest time past the latest training sale the model will value for (five years)."""
MIN_AREA_POINTS = 10
"""Fewest distinct sale locations that make an area; with fewer, locations are not checked."""
NOVELTY_FLAG = 0.995
"""Share of training houses a house must be more unusual than to be flagged."""
RANGE_CHECKED: tuple[str, ...] = PLAIN_NUMERIC
"""Not ``year_remod_add``: Ames records every remodel before 1950 as 1950, and the house's age is
checked through ``year_built`` and the valuation date."""
NOVELTY_COLUMNS: tuple[str, ...] = tuple(n for n in PLAIN_NUMERIC if n != "central_air")


def levels_of(annotation: Any) -> set[str]:
    """Every level a ``Literal`` field (or an optional one) may take."""
    if get_origin(annotation) is Literal:
        return {str(level) for level in get_args(annotation)}
    return set().union(*(levels_of(arg) for arg in get_args(annotation)))


def month_index(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    return np.asarray(year, dtype=np.int64) * 12 + np.asarray(month, dtype=np.int64) - 1


def month_label(index: int) -> str:
    return f"{index // 12}-{index % 12 + 1:02d}"


def shown(name: str, value: float) -> str:
    """A field's value as a person writes it: years without thousands separators."""
    return f"{value:.0f}" if name.startswith("year") else f"{value:,.0f}"


@dataclass(frozen=True)
class Verdict:
    """The guard's answer for a batch, one entry per row."""

    flags: list[list[str]]
    refusal: list[str | None]
    novelty: np.ndarray
    months_beyond: np.ndarray

    @property
    def in_domain(self) -> np.ndarray:
        return np.fromiter((not f for f in self.flags), dtype=bool, count=len(self.flags))


class ApplicabilityGuard:
    """Training area, ranges, levels, novelty model and sale period; ``check`` is vectorised."""

    def fit(self, features: pd.DataFrame, sold: np.ndarray) -> Self:
        self.range_names_ = RANGE_CHECKED  # as fitted: a model keeps its checks when the code's list changes
        numeric = features.loc[:, list(self.range_names_)].to_numpy(dtype=float)
        self.low_ = np.nanmin(numeric, axis=0)
        self.high_ = np.nanmax(numeric, axis=0)
        unseen = {
            name: frozenset(levels_of(PropertyFeatures.model_fields[name].annotation) - set(features[name].dropna()))
            for name in CATEGORICAL
        }
        self.unseen_levels_ = {name: levels for name, levels in unseen.items() if levels}
        lon, lat = features["longitude"].to_numpy(dtype=float), features["latitude"].to_numpy(dtype=float)
        known = ~(np.isnan(lon) | np.isnan(lat))
        points = np.column_stack(to_km(lon[known], lat[known]))
        self.hull_: np.ndarray | None = None  # sales without coordinates: no area to check against
        self.inside_: Delaunay | None = None
        if len(np.unique(points, axis=0)) >= MIN_AREA_POINTS:
            self.hull_ = points[ConvexHull(points).vertices]
            self.inside_ = Delaunay(self.hull_)
        months = pd.DatetimeIndex(sold)
        index = month_index(months.year.to_numpy(), months.month.to_numpy())
        self.first_month_, self.last_month_ = int(index.min()), int(index.max())
        matrix = self._novelty_matrix(columns_of(features))
        self.centre_ = matrix.mean(axis=0)
        scale = matrix.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        covariance = LedoitWolf().fit((matrix - self.centre_) / self.scale_)
        self.precision_ = covariance.precision_
        self.training_distances_ = np.sort(self._distances(matrix))
        return self

    @staticmethod
    def _novelty_matrix(X: Columns | FrameColumns) -> np.ndarray:
        matrix = np.column_stack([X[name] for name in NOVELTY_COLUMNS]).astype(float)
        logged: np.ndarray = np.log1p(np.maximum(matrix, 0.0))
        return logged

    def _distances(self, matrix: np.ndarray) -> np.ndarray:
        centred = (matrix - self.centre_) / self.scale_
        return np.asarray(((centred @ self.precision_) * centred).sum(axis=1), dtype=float)

    def novelty(self, X: Columns | FrameColumns) -> np.ndarray:
        distances = self._distances(self._novelty_matrix(X))
        ranks = np.searchsorted(self.training_distances_, distances, side="right")
        return np.asarray(ranks / len(self.training_distances_), dtype=float)

    def km_outside(self, x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
        """Distance from each point to the training area (0 inside it)."""
        points = np.column_stack([x_km, y_km])
        distance = np.zeros(len(points))
        if self.inside_ is None or self.hull_ is None:
            return distance
        outside = self.inside_.find_simplex(points) < 0
        if outside.any():
            start, end = self.hull_, np.roll(self.hull_, -1, axis=0)
            edge = end - start
            p = points[outside][:, None, :]
            t = np.clip(((p - start) * edge).sum(axis=2) / (edge * edge).sum(axis=1), 0.0, 1.0)
            gap = p - (start + t[:, :, None] * edge)
            distance[outside] = np.sqrt((gap * gap).sum(axis=2)).min(axis=1)
        return distance

    def check(self, frame: pd.DataFrame) -> Verdict:
        return self.check_columns(columns_of(frame))

    def check_columns(self, X: Columns | FrameColumns) -> Verdict:
        """``check`` of a frame already read (``columns_of``)."""
        n = len(X)
        flags: list[list[str]] = [[] for _ in range(n)]
        refusal: list[str | None] = [None] * n
        self._check_location(X, flags, refusal)
        self._check_ranges(X, flags)
        self._check_levels(X, flags)
        novelty = self.novelty(X)
        for i in np.flatnonzero(novelty > NOVELTY_FLAG):
            flags[i].append(
                f"an unusual combination of sizes, rooms and ages: more unusual than {novelty[i]:.1%} "
                "of the training houses"
            )
        months_beyond = self._check_date(X, flags, refusal)
        return Verdict(flags, refusal, novelty, months_beyond)

    def _check_location(self, X: Columns | FrameColumns, flags: list[list[str]], refusal: list[str | None]) -> None:
        lon, lat = X["longitude"].astype(float), X["latitude"].astype(float)
        known = np.flatnonzero(~(np.isnan(lon) | np.isnan(lat)))
        if not len(known):
            return
        outside = self.km_outside(*to_km(lon[known], lat[known]))
        for i, km in zip(known.tolist(), outside.tolist(), strict=True):
            if km > REFUSE_BEYOND_KM:
                refusal[i] = (
                    f"the location is {km:,.0f} km outside the area the model's training sales cover: "
                    "it is another market, which this model does not value"
                )
            elif km > 0:
                flags[i].append(f"the location is {km:.1f} km outside the area the training sales cover")

    def _check_ranges(self, X: Columns | FrameColumns, flags: list[list[str]]) -> None:
        names = self.range_names_
        values = np.column_stack([X[name] for name in names]).astype(float)
        with np.errstate(invalid="ignore"):
            below, above = values < self.low_, values > self.high_
        for i, j in zip(*np.nonzero(below | above), strict=True):
            name, value = names[j], values[i, j]
            if above[i, j]:
                bound = f"is above every training sale (largest {shown(name, self.high_[j])})"
            else:
                bound = f"is below every training sale (smallest {shown(name, self.low_[j])})"
            flags[i].append(f"{name} {shown(name, value)} {bound}")

    def _check_levels(self, X: Columns | FrameColumns, flags: list[list[str]]) -> None:
        for name, unseen in self.unseen_levels_.items():
            levels = tuple(sorted(unseen))
            codes = X.codes(name, levels)
            for i in np.flatnonzero(codes < len(levels)):
                flags[i].append(
                    f"{name} '{levels[codes[i]]}' occurs in no training sale; it is valued as if it were absent"
                )

    def _check_date(self, X: Columns | FrameColumns, flags: list[list[str]], refusal: list[str | None]) -> np.ndarray:
        wanted = month_index(X["year_sold"].astype(float), X["mo_sold"].astype(float))
        beyond = np.maximum(wanted - self.last_month_, 0)
        latest, earliest = month_label(self.last_month_), month_label(self.first_month_)
        for i in np.flatnonzero(beyond > MAX_MONTHS_BEYOND):
            refusal[i] = (
                f"the valuation date {month_label(int(wanted[i]))} is {int(beyond[i]):,} months after the latest "
                f"sale the model knows ({latest}); it values up to {MAX_MONTHS_BEYOND} months ahead"
            )
        for i in np.flatnonzero(wanted < self.first_month_):
            flags[i].append(
                f"the valuation date {month_label(int(wanted[i]))} is before the earliest training sale ({earliest})"
            )
        return np.asarray(beyond, dtype=np.int64)
