"""The most similar past sales: nearest neighbours by location, size and age.

The search space is kilometres east/north of the town centre, 3 x ln(living area) (a 10 %
larger house counts like 0.3 km away) and year built / 15 (15 years count like 1 km).
``distance_km`` in the answer is the plain ground distance between the two houses.

A house is never its own comparable: when the subject is a training sale (the data has no
parcel id, so: within ``SAME_PLACE_KM`` of it, with the same living area and year built), that
sale is left out and the next nearest takes its place.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from dataset.sales import Dataset
from training.features import nearest, to_km

AREA_WEIGHT = 3.0
YEARS_PER_KM = 15.0
N_COMPARABLES = 5
SAME_PLACE_KM = 0.001
"""Two records this close (one metre) with the same living area and year built are one house."""


def _space(x_km: np.ndarray, y_km: np.ndarray, gr_liv_area: np.ndarray, year_built: np.ndarray) -> np.ndarray:
    return np.column_stack([x_km, y_km, AREA_WEIGHT * np.log(gr_liv_area), year_built / YEARS_PER_KM])


class ComparablesIndex:
    """A k-d tree over past sales plus the few fields shown for each of them."""

    def __init__(self, data: Dataset, longitude: np.ndarray, latitude: np.ndarray) -> None:
        frame = data.features
        area = frame["gr_liv_area"].to_numpy(dtype=float)
        built = frame["year_built"].to_numpy(dtype=float)
        x_km, y_km = to_km(longitude, latitude)
        self.x_km = x_km
        self.y_km = y_km
        self.area = area
        self.built = built
        self.tree = cKDTree(_space(x_km, y_km, area, built))
        sold = np.datetime_as_string(data.sold.astype("datetime64[M]"), unit="M")
        self.records: list[dict[str, Any]] = [
            {
                "price": float(p),
                "sold": f"{s}-01",
                "neighborhood": str(n),
                "gr_liv_area": int(a),
                "year_built": int(b),
                "longitude": float(lon),
                "latitude": float(lat),
            }
            for p, s, n, a, b, lon, lat in zip(
                data.price, sold, frame["neighborhood"], area, built, longitude, latitude, strict=True
            )
        ]

    def query(
        self, longitude: np.ndarray, latitude: np.ndarray, gr_liv_area: np.ndarray, year_built: np.ndarray
    ) -> list[list[dict[str, Any]]]:
        x_km, y_km = to_km(longitude, latitude)
        k = min(N_COMPARABLES, len(self.records))
        index = nearest(self.tree, _space(x_km, y_km, gr_liv_area, year_built), min(k + 1, len(self.records)))
        ground = np.hypot(self.x_km[index] - x_km[:, None], self.y_km[index] - y_km[:, None])
        itself = (
            (ground < SAME_PLACE_KM)
            & (self.area[index] == gr_liv_area[:, None])
            & (self.built[index] == year_built[:, None])
        )
        keep = np.argsort(itself, axis=1, kind="stable")[:, :k]  # the subject's own sale, if any, goes last
        index = np.take_along_axis(index, keep, axis=1)
        ground = np.take_along_axis(ground, keep, axis=1).round(3)
        answers = []
        for row, dist in zip(index.tolist(), ground.tolist(), strict=True):
            found = []
            for j, d in zip(row, dist, strict=True):
                comparable = self._shown[j].copy()
                comparable["distance_km"] = d
                found.append(comparable)
            answers.append(found)
        return answers

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_shown", None)  # derived from the records again after loading
        return state

    @functools.cached_property
    def _shown(self) -> list[dict[str, Any]]:
        """Each record with its ``distance_km`` key already in place: an answer copies one and sets the
        distance (copying a dict of the same keys costs ~40 % less than unpacking it into a new one)."""
        return [{**record, "distance_km": 0.0} for record in self.records]
