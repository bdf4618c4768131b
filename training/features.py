"""From raw ``PropertyFeatures`` records to one numeric matrix, shared by training and serving.

``FeatureEncoder`` is an sklearn transformer. Fitted on log prices, it learns:

* neighbourhood centroids (to impute missing coordinates) and typical overall quality grades
  (to impute a missing ``overall_qual``) from the training rows;
* neighbourhood and nearest-neighbour price levels (smoothed means of log price and log
  price per square foot). ``fit_transform`` computes these out-of-fold, so no training row
  ever sees a statistic that includes its own sale price; ``transform`` uses all training rows.

The sale date enters only through the ages at sale: the calendar itself is not a column.
Ames prices were flat over 2006-2010, so a date column could only learn period noise, and a
tree cannot extrapolate it to valuations after its training years (a year-ahead check,
2006-07 predicting 2008 and 2006-08 predicting 2009, was worse with it).

Everything else (ages at sale, areas, distances to the town centre and the Iowa State campus,
ordinal scores of condition grades, one-hot levels) is a function of the row alone.
``transform`` works on numpy arrays column by column so that one row costs well under a
millisecond.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, get_args

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from schemas import FEATURE_NAMES
from schemas import features as schema

TOWN_CENTRE = (-93.6200, 42.0347)
CAMPUS = (-93.6465, 42.0267)
KM_PER_DEG_LAT = 110.57
KM_PER_DEG_LON = 111.32 * float(np.cos(np.radians(TOWN_CENTRE[1])))

CONDITION_SCORES = {level: float(i + 1) for i, level in enumerate(schema.CONDITIONS)}
"""The 10-point scale of ``overall_cond`` and ``overall_qual`` as scores 1 (Very_Poor) to 10."""
ORDINALS: dict[str, dict[str, float]] = {
    "overall_cond": CONDITION_SCORES,
    "exter_cond": {level: float(i + 1) for i, level in enumerate(get_args(schema.Grade))},
    "heating_qc": {level: float(i + 1) for i, level in enumerate(get_args(schema.Grade))},
    "bsmt_exposure": {"No_Basement": 0.0, "No": 1.0, "Mn": 2.0, "Av": 3.0, "Gd": 4.0},
    "garage_finish": {"No_Garage": 0.0, "Unf": 1.0, "RFn": 2.0, "Fin": 3.0},
    "lot_shape": {level: float(i) for i, level in enumerate(get_args(schema.LotShape))},
    "bsmt_fin_type": {"No_Basement": 0.0, "Unf": 1.0, "LwQ": 2.0, "Rec": 3.0, "BLQ": 4.0, "ALQ": 5.0, "GLQ": 6.0},
    "functional": {level: float(-i) for i, level in enumerate(get_args(schema.Functional))},
    "paved_drive": {"Dirt_Gravel": 0.0, "Partial_Pavement": 1.0, "Paved": 2.0},
}
ONE_HOT: dict[str, tuple[str, ...]] = {
    "neighborhood": schema.NEIGHBORHOODS,
    "bldg_type": get_args(schema.BuildingType),
    "house_style": get_args(schema.HouseStyle),
    "ms_zoning": get_args(schema.Zoning),
    "foundation": get_args(schema.Foundation),
    "sale_condition": get_args(schema.SaleCondition),
    "garage_type": get_args(schema.GarageType),
    "bsmt_fin_type": get_args(schema.BasementFinish),
    "exterior": get_args(schema.Exterior),
    "mas_vnr_type": get_args(schema.VeneerType),
    "proximity": get_args(schema.Proximity),
    "lot_config": get_args(schema.LotConfig),
}
PARALLEL_ROWS = 2048
"""Batches from this size use ``SERVING_THREADS`` threads in the serving path; smaller ones one thread."""


def _omp_threads() -> int | None:
    """``OMP_NUM_THREADS``'s outermost count (it may list one per nesting level: "2,1"), if set."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


SERVING_THREADS = min(4, _omp_threads() or os.cpu_count() or 1)
"""Threads a large batch may use (XGBoost, the k-d trees, the attribution tables): the cores, at most
four, or ``OMP_NUM_THREADS`` when a process sets it (as the workers do when they outnumber the cores:
threads of two workers competing for two cores cost CPU and save no time)."""


_part = threading.local()


def serving_threads(rows: int) -> int:
    """Threads for a batch of ``rows``: one below ``PARALLEL_ROWS`` (starting threads costs a busy
    worker more than they save), ``SERVING_THREADS`` from there; one inside a part of a batch
    split between threads (``one_thread_each``), whose parts already share the cores."""
    return 1 if rows < PARALLEL_ROWS or getattr(_part, "active", False) else SERVING_THREADS


@contextlib.contextmanager
def one_thread_each() -> Iterator[None]:
    """Marks the calling thread as scoring one part of a split batch: every step in it runs on one thread."""
    before = getattr(_part, "active", False)
    _part.active = True
    try:
        yield
    finally:
        _part.active = before


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's native thread pools, found once (by the first split batch, when BLAS is loaded)."""
    return ThreadpoolController()


@contextlib.contextmanager
def blas_one_thread() -> Iterator[None]:
    """BLAS on one thread while a split batch's parts run: OpenBLAS's own threads serve one caller at a
    time, so two parts each calling it with two threads took as long as one after the other (the
    network's 5,000-row products: 18 ms for the pair against 9 ms alone; 13.5 ms on one thread each).
    The limit is process-wide while it lasts; workers keep BLAS on one thread anyway."""
    with _thread_pools().limit(limits=1, user_api="blas"):
        yield


def row_parts(rows: int, parts: int) -> list[slice]:
    """``rows`` split into ``parts`` consecutive slices of near-equal size, in order."""
    bounds = np.linspace(0, rows, parts + 1).astype(int).tolist()
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


@functools.cache
def serving_pool() -> ThreadPoolExecutor:
    """The threads a large batch is split between (``SERVING_THREADS``), shared by every model in the process."""
    return ThreadPoolExecutor(SERVING_THREADS, thread_name_prefix="serving")


SMALL_BATCH = 64
"""Below this many rows a frame is read as one object array (a pandas column read costs ~10 us)."""
QUALITY = "overall_qual"
UNKNOWN_QUALITY_SCORE = 5.0
SALE_DATE = ("year_sold", "mo_sold")
CATEGORICAL = tuple(dict.fromkeys((*ONE_HOT, *ORDINALS, QUALITY)))
PLAIN_NUMERIC: tuple[str, ...] = tuple(
    name
    for name in FEATURE_NAMES
    if name not in CATEGORICAL and name not in {"year_remod_add", "longitude", "latitude", *SALE_DATE}
)
LOCATION_GROUP = "location"
GROUPS: dict[str, str] = {
    "first_flr_sf": "gr_liv_area",
    "log_gr_liv_area": "gr_liv_area",
    "area_per_room": "gr_liv_area",
    "total_sf": "total_sf",
    "log_total_sf": "total_sf",
    "log_lot_area": "lot_area",
    "total_baths": "bathrooms",
    "full_bath": "bathrooms",
    "half_bath": "bathrooms",
    "bsmt_full_bath": "bathrooms",
    "bsmt_half_bath": "bathrooms",
    "overall_qual_sq": QUALITY,
    "qual_x_log_area": QUALITY,
    "house_age": "house_age",
    "house_age_sq": "house_age",
    "year_built": "house_age",
    "year_remod_add": "years_since_remodel",
    "years_since_remod": "years_since_remodel",
    "remodelled": "years_since_remodel",
    "porch_total": "porches",
    "open_porch_sf": "porches",
    "enclosed_porch": "porches",
    "screen_porch": "porches",
    "has_garage": "garage_cars",
    "garage_area": "garage_cars",
    "nbhd_log_price": "neighborhood",
    "nbhd_log_ppsf": "neighborhood",
}
LOCATION_COLUMNS = frozenset(
    {
        "longitude",
        "latitude",
        "x_km",
        "y_km",
        "diag_a",
        "diag_b",
        "dist_centre_km",
        "dist_campus_km",
        "knn_log_ppsf",
        "knn_log_price",
    }
)
COMPARABLE_COLUMNS = frozenset({"comp_log_price", "comp_log_ppsf"})


def group_of(column: str) -> str:
    """The raw or derived feature an encoded column is reported under in explanations."""
    if column in LOCATION_COLUMNS:
        return LOCATION_GROUP
    if column in COMPARABLE_COLUMNS:
        return "comparable_sales"
    if "=" in column:
        return column.split("=", 1)[0]
    return GROUPS.get(column, column)


def nearest(tree: cKDTree, points: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's k nearest tree points, rows x k. scipy's k-d tree answers a
    10,000-row batch about 5x faster than sklearn's BallTree (on ``serving_threads``), and one row
    in ~13 us."""
    _, index = tree.query(points, k=k, workers=serving_threads(len(points)))
    return np.asarray(index).reshape(len(points), k)


def neighbourhood_lookup(onehot_nbhd: np.ndarray, by_nbhd: np.ndarray, fallback: float) -> np.ndarray:
    """Each row's neighbourhood entry of ``by_nbhd``; ``fallback`` for an unknown neighbourhood."""
    hot = onehot_nbhd.astype(float)
    return np.where(hot.sum(axis=1) == 0, fallback, hot @ by_nbhd)


def neighbourhood_means(onehot_nbhd: np.ndarray, values: np.ndarray, fallback: float) -> np.ndarray:
    """Each neighbourhood's mean of ``values`` (one row per sale); ``fallback`` where it has no sale."""
    hot = onehot_nbhd.astype(float)
    counts = hot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = hot.T @ values / counts
    return np.where(counts > 0, means, fallback)


def fill_from_neighbourhood(
    values: np.ndarray, missing: np.ndarray, onehot_nbhd: np.ndarray, by_nbhd: np.ndarray, fallback: float
) -> np.ndarray:
    """``values`` with each missing row set to its neighbourhood's entry of ``by_nbhd`` (``fallback``
    when the neighbourhood is unknown)."""
    if not missing.any():
        return values
    filled = values.copy()
    filled[missing] = neighbourhood_lookup(onehot_nbhd[missing], by_nbhd, fallback)
    return filled


def to_km(longitude: np.ndarray, latitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planar kilometres east and north of the town centre (accurate to <1 % within Ames)."""
    return (longitude - TOWN_CENTRE[0]) * KM_PER_DEG_LON, (latitude - TOWN_CENTRE[1]) * KM_PER_DEG_LAT


@functools.cache
def _positions(options: tuple[str, ...]) -> dict[str, int]:
    return {option: i for i, option in enumerate(options)}


def level_codes(values: np.ndarray, options: tuple[str, ...]) -> np.ndarray:
    """Each value's position in ``options``; ``len(options)`` for an unknown level. A dict lookup per
    value, mapped in C: comparing object arrays level by level, or pandas' hash table, cost more."""
    return np.fromiter(
        map(_positions(options).get, values, itertools.repeat(len(options))), dtype=np.intp, count=len(values)
    )


def one_hot(codes: np.ndarray, options: tuple[str, ...]) -> np.ndarray:
    """Rows x options booleans from the levels' codes (``Columns.codes``); an unknown level is all False."""
    hot: np.ndarray = np.eye(len(options) + 1, len(options), dtype=bool)[codes]
    return hot


@functools.cache
def _option_array(options: tuple[str, ...], kind: pa.DataType) -> pa.Array:
    return pa.array(options, type=kind)


class Columns:
    """A small frame's columns as numpy object arrays, converted in one call: reading a pandas column
    costs ~10 us, and a transform reads fifty of them, most of a one-row valuation's time."""

    def __init__(self, X: pd.DataFrame) -> None:
        self._values = X.to_numpy(dtype=object, na_value=np.nan)
        self._index = {name: i for i, name in enumerate(X.columns)}

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, name: str) -> np.ndarray:
        column: np.ndarray = self._values[:, self._index[name]]
        return column

    def codes(self, name: str, options: tuple[str, ...]) -> np.ndarray:
        return level_codes(self[name], options)


class FrameColumns:
    """A large frame's columns as numpy arrays, read column by column (cheaper than one object copy
    of the frame, which boxes every number)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, name: str) -> np.ndarray:
        column: np.ndarray = np.asarray(self.frame[name].to_numpy())
        return column

    def codes(self, name: str, options: tuple[str, ...]) -> np.ndarray:
        """A column of Arrow strings (pandas' default string type) is looked up in Arrow, with no Python
        string made per cell and the GIL released (a 5,000-row column: ~0.3 ms against ~0.6 ms); any other
        column as ``Columns.codes`` does."""
        column = self.frame[name]
        if not isinstance(column.array, pd.arrays.ArrowStringArray):
            return level_codes(np.asarray(column.to_numpy()), options)
        values = pa.array(column.array)
        found = pc.index_in(values, value_set=_option_array(options, values.type))
        codes: np.ndarray = pc.fill_null(found, len(options)).to_numpy().astype(np.intp)
        return codes


def columns_of(frame: pd.DataFrame) -> Columns | FrameColumns:
    return Columns(frame) if len(frame) < SMALL_BATCH else FrameColumns(frame)


def scores_of(X: Columns | FrameColumns, name: str, scores: dict[str, float]) -> np.ndarray:
    """Each row's score of its level in column ``name``; an unknown level scores 0."""
    result: np.ndarray = np.append(np.asarray(list(scores.values()), dtype=float), 0.0)[X.codes(name, tuple(scores))]
    return result


def _floats(X: Columns | FrameColumns, name: str) -> np.ndarray:
    return np.asarray(X[name], dtype=float)


class FeatureEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Raw records (``FEATURE_NAMES`` columns) to a float matrix; see the module docstring."""

    def __init__(self, n_folds: int = 5, k_neighbors: int = 12, smoothing: float = 10.0, random_state: int = 0) -> None:
        self.n_folds = n_folds
        self.k_neighbors = k_neighbors
        self.smoothing = smoothing
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> Self:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, frame: pd.DataFrame, y: np.ndarray | None = None, **_: Any) -> np.ndarray:
        if y is None:
            raise ValueError("FeatureEncoder needs the log prices to fit")
        y = np.asarray(y, dtype=float)
        X = columns_of(frame)
        onehot_nbhd = one_hot(X.codes("neighborhood", schema.NEIGHBORHOODS), schema.NEIGHBORHOODS)
        self._fit_centroids(X, onehot_nbhd)
        self._fit_quality(X, onehot_nbhd)
        lon, lat = self._coordinates(X, onehot_nbhd)
        base, names = self._base(X, onehot_nbhd, lon, lat)
        log_area = np.log(_floats(X, "gr_liv_area"))
        where = self._where(X, lon, lat)
        stats = np.empty((len(y), len(self._stat_names())))
        folds = KFold(n_splits=min(self.n_folds, len(y)), shuffle=True, random_state=self.random_state)
        for fit_rows, out_rows in folds.split(base):
            self._fit_stats(onehot_nbhd[fit_rows], where[fit_rows], y[fit_rows], log_area[fit_rows])
            stats[out_rows] = self._stats(onehot_nbhd[out_rows], where[out_rows])
        self._fit_stats(onehot_nbhd, where, y, log_area)
        self.feature_names_ = (*names, *self._stat_names())
        self.n_features_in_ = len(FEATURE_NAMES)
        return np.hstack([base, stats])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encode(columns_of(frame))

    def encode(self, X: Columns | FrameColumns) -> np.ndarray:
        """``transform`` of a frame already read (``columns_of``): the serving path reads it once for
        the guard and the encoder (a one-row frame of Arrow columns costs ~0.4 ms to read)."""
        neighbourhoods = tuple(self.nbhd_levels_)
        onehot_nbhd = one_hot(X.codes("neighborhood", neighbourhoods), neighbourhoods)
        lon, lat = self._coordinates(X, onehot_nbhd)
        base, _ = self._base(X, onehot_nbhd, lon, lat)
        return np.hstack([base, self._stats(onehot_nbhd, self._where(X, lon, lat))])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_names_, dtype=object)

    @staticmethod
    def _stat_names() -> tuple[str, ...]:
        return ("nbhd_log_price", "nbhd_log_ppsf", "knn_log_price", "knn_log_ppsf", "comp_log_price", "comp_log_ppsf")

    @staticmethod
    def _where(X: Columns | FrameColumns, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Location (km) and the comparable-sales space (km, 3 ln area, year built / 15)."""
        x_km, y_km = to_km(lon, lat)
        area = np.log(_floats(X, "gr_liv_area"))
        return np.column_stack([x_km, y_km, 3.0 * area, _floats(X, "year_built") / 15.0])

    def _fit_centroids(self, X: Columns | FrameColumns, onehot_nbhd: np.ndarray) -> None:
        self.nbhd_levels_ = np.asarray(schema.NEIGHBORHOODS, dtype=object)
        lon, lat = _floats(X, "longitude"), _floats(X, "latitude")
        known = ~(np.isnan(lon) | np.isnan(lat))
        self.global_centroid_ = (float(np.mean(lon[known])), float(np.mean(lat[known])))
        self.centroid_lon_ = neighbourhood_means(onehot_nbhd[known], lon[known], self.global_centroid_[0])
        self.centroid_lat_ = neighbourhood_means(onehot_nbhd[known], lat[known], self.global_centroid_[1])

    def _fit_quality(self, X: Columns | FrameColumns, onehot_nbhd: np.ndarray) -> None:
        """Each neighbourhood's mean known grade score, for rows without a grade."""
        score = scores_of(X, QUALITY, CONDITION_SCORES)
        known = score > 0  # grades score 1 to 10
        self.global_quality_ = float(score[known].mean()) if known.any() else UNKNOWN_QUALITY_SCORE
        self.quality_by_nbhd_ = neighbourhood_means(onehot_nbhd[known], score[known], self.global_quality_)

    def _quality(self, X: Columns | FrameColumns, onehot_nbhd: np.ndarray) -> np.ndarray:
        score = scores_of(X, QUALITY, CONDITION_SCORES)
        return fill_from_neighbourhood(score, score == 0, onehot_nbhd, self.quality_by_nbhd_, self.global_quality_)

    def _coordinates(self, X: Columns | FrameColumns, onehot_nbhd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = _floats(X, "longitude"), _floats(X, "latitude")
        missing = np.isnan(lon) | np.isnan(lat)
        lon = fill_from_neighbourhood(lon, missing, onehot_nbhd, self.centroid_lon_, self.global_centroid_[0])
        lat = fill_from_neighbourhood(lat, missing, onehot_nbhd, self.centroid_lat_, self.global_centroid_[1])
        return lon, lat

    def _fit_stats(self, onehot_nbhd: np.ndarray, where: np.ndarray, y: np.ndarray, log_area: np.ndarray) -> None:
        ppsf = y - log_area
        hot = onehot_nbhd.astype(float)
        counts = hot.sum(axis=0)
        m = self.smoothing
        self.prior_ = np.array([y.mean(), ppsf.mean()])
        self.nbhd_price_ = (hot.T @ y + m * self.prior_[0]) / (counts + m)
        self.nbhd_ppsf_ = (hot.T @ ppsf + m * self.prior_[1]) / (counts + m)
        self.tree_ = cKDTree(where[:, :2])
        self.comp_tree_ = cKDTree(where)
        self.tree_y_ = y
        self.tree_ppsf_ = ppsf

    def _stats(self, onehot_nbhd: np.ndarray, where: np.ndarray) -> np.ndarray:
        k = min(self.k_neighbors, len(self.tree_y_))
        index = nearest(self.tree_, where[:, :2], k)
        comps = nearest(self.comp_tree_, where, k)
        return np.column_stack(
            [
                neighbourhood_lookup(onehot_nbhd, self.nbhd_price_, self.prior_[0]),
                neighbourhood_lookup(onehot_nbhd, self.nbhd_ppsf_, self.prior_[1]),
                self.tree_y_[index].mean(axis=1),
                self.tree_ppsf_[index].mean(axis=1),
                self.tree_y_[comps].mean(axis=1),
                self.tree_ppsf_[comps].mean(axis=1),
            ]
        )

    def _base(
        self,
        X: Columns | FrameColumns,
        onehot_nbhd: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
    ) -> tuple[np.ndarray, list[str]]:
        num = {name: _floats(X, name) for name in PLAIN_NUMERIC}
        year_sold, month_sold = _floats(X, "year_sold"), _floats(X, "mo_sold")
        built = num["year_built"]
        remod = _floats(X, "year_remod_add")
        remod = np.where(np.isnan(remod), built, np.fmax(remod, built))
        x_km, y_km = to_km(lon, lat)
        c_x, c_y = to_km(np.array([CAMPUS[0]]), np.array([CAMPUS[1]]))
        age = year_sold + (month_sold - 1.0) / 12.0 - built
        total_sf = num["gr_liv_area"] + num["total_bsmt_sf"]
        log_area = np.log(num["gr_liv_area"])
        quality = self._quality(X, onehot_nbhd)
        derived = {
            "year_remod_add": remod,
            "longitude": lon,
            "latitude": lat,
            "first_flr_sf": num["gr_liv_area"] - num["second_flr_sf"],
            "total_sf": total_sf,
            "log_gr_liv_area": log_area,
            "log_total_sf": np.log1p(total_sf),
            "log_lot_area": np.log(num["lot_area"]),
            "total_baths": num["full_bath"]
            + 0.5 * num["half_bath"]
            + num["bsmt_full_bath"]
            + 0.5 * num["bsmt_half_bath"],
            "area_per_room": num["gr_liv_area"] / np.maximum(num["tot_rms_abv_grd"], 1.0),
            "house_age": age,
            "house_age_sq": age * age / 100.0,
            "years_since_remod": year_sold - remod,
            "remodelled": (remod > built).astype(float),
            "porch_total": num["open_porch_sf"] + num["enclosed_porch"] + num["screen_porch"],
            "has_garage": (num["garage_cars"] > 0).astype(float),
            "x_km": x_km,
            "y_km": y_km,
            "diag_a": x_km + y_km,
            "diag_b": x_km - y_km,
            "dist_centre_km": np.hypot(x_km, y_km),
            "dist_campus_km": np.hypot(x_km - c_x[0], y_km - c_y[0]),
            QUALITY: quality,
            "overall_qual_sq": quality * quality / 10.0,
            "qual_x_log_area": quality * log_area,
        }
        columns = [*num.values(), *derived.values()]
        names = [*num, *derived]
        for name, scores in ORDINALS.items():
            columns.append(scores_of(X, name, scores))
            names.append(name)
        for name, options in ONE_HOT.items():
            hot = onehot_nbhd if name == "neighborhood" else one_hot(X.codes(name, options), options)
            columns.extend(hot.T.astype(float))
            names.extend(f"{name}={option}" for option in options)
        return np.column_stack(columns), names
