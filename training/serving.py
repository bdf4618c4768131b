"""The served model: guard + encoder + weighted members + intervals, FSD and confidence + explanations + comparables.

**Applicability.** ``ApplicabilityGuard`` (``guard.py``) checks every house against the
training sales. A flagged house is valued with every interval (and so the FSD) widened
``FLAGGED_WIDENING`` times and Low confidence; a refused one gets a ``refusal`` reason, which
the worker turns into a failed result. No price or interval bound is below ``PRICE_FLOOR``.

**FSD and confidence** (the AVM convention). The forecast standard deviation is the
conformal radius, in ln(price), at ``FSD_LEVEL`` (68.27 %, one standard deviation of a normal):
calibrated on the out-of-fold residuals like the 80 % and 90 % intervals, so about 68 % of sales
lie within ``|ln(sale / price)| <= fsd``, i.e. within about price x (1 +/- fsd). The confidence
score is ``1 - fsd``, banded High (fsd <= 0.10), Medium (<= 0.20) or Low (larger, or flagged);
``schemas.valuation`` holds the band edges.

**Intervals' start.** The 80 % and 90 % log half-widths are multiplied by the recalibration
factors training settled on the model's backtest (``training.warm_start``), by each house's
segment (its ``sale_condition``, grade and price band), as the live recalibration does after
them; a narrower level never reaches past a wider one. The FSD has no term of its own.

**Valuation date.** The conformal multipliers already carry a year-ahead horizon (the latest
year predicted from the earlier ones, on average about ``DRIFT_GRACE_MONTHS`` months past its
data). Each month past that adds a market-drift allowance: prices taken as a random walk with a
standard deviation of ``DRIFT_SD_PER_YEAR`` (5 %) a year, so after ``m`` months beyond the
grace the half-width at level ``a`` becomes ``sqrt(r_a ** 2 + (z_a * 0.05 * sqrt(m / 12)) ** 2)``
with ``z_a`` the normal quantile of the level. 5 % a year is a cautious figure for the year-on-year
change of a metro house price index in ordinary years; it widens a 90 % interval by about 8
points of price after two years.

**Explanations that add up.** Every member's log-space effects per encoded column, weighted by
its blend weight: TreeSHAP path attributions for XGBoost and coefficient x centred value for the
linear model (both sum exactly to the member's prediction), midpoint gradient x input for the
Keras network (``models.py``). The members' biases make the base, ``base_price = exp(sum w_m
bias_m)``: the price of the average training house. Columns fold into the reported features
(one-hot levels into their field; coordinates, distances and nearest-sale price levels into
``location``). Whatever the effects leave of ln(price) - ln(base) (the network's inexact part)
is reported under "other features", with every feature not among the top five. Dollars: with
``d = ln(price) - ln(base)``, each log effect ``phi`` becomes ``phi x (price - base) / d``,
its share of the dollar gap in proportion to its share of the log gap. Shares of one total add
up, keep the sign of ``phi`` (``(price - base) / d`` is positive), and tend to ``base x phi``
as ``d`` goes to 0. A price lifted to the floor shows the lift as "price floor". So
``base_price + sum(contributions) == price`` to the cent.

**Detail.** ``params={"detail": "summary"}`` answers without contributions and comparables (empty
lists): the members' plain predictions, no TreeSHAP walk and no neighbour search, for bulk files
whose users want prices, intervals and FSD. The base price is the members' expected value, the
same for every house, so it is taken from one row. Both details take the price from the
members' predictions (a forest's path attributions sum to its prediction only to float32
rounding, about 1e-6), so a house gets the same price, intervals and FSD at either detail.
"""

from __future__ import annotations

import copy
import gc
from typing import Any, get_args

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel
from scipy.stats import norm

from infra.recalibration import Adjustments, segments_of
from schemas import INTERVAL_LEVELS, VALUATION_COLUMNS
from schemas.chunks import Detail
from schemas.valuation import OTHER_FEATURES, PRICE_FLOOR_CONTRIBUTION, confidence_band
from training.comparables import ComparablesIndex
from training.features import (
    FeatureEncoder,
    blas_one_thread,
    columns_of,
    group_of,
    one_thread_each,
    row_parts,
    serving_pool,
    serving_threads,
)
from training.guard import ApplicabilityGuard, Verdict
from training.intervals import AdaptiveIntervals

N_CONTRIBUTIONS = 5
FSD_LEVEL = 0.6827
"""The coverage of +/- one standard deviation of a normal: the level the FSD is calibrated at."""
CALIBRATED_LEVELS: tuple[float, ...] = (FSD_LEVEL, *INTERVAL_LEVELS)
FLAGGED_WIDENING = 1.5
"""How much wider every interval of a house outside the model's experience is."""
DRIFT_SD_PER_YEAR = 0.05
"""Market-drift allowance: standard deviation of ln(price) change per year past the data."""
DRIFT_GRACE_MONTHS = 6
"""Months past the data the conformal multipliers already cover (see the module docstring)."""
PRICE_FLOOR = 10_000.0
"""No price or interval bound is below this many dollars."""
DETAILS: tuple[Detail, ...] = get_args(Detail)


class Valuer:
    """Prices a ``FEATURE_NAMES`` frame; every step is vectorised over rows."""

    start: Adjustments = Adjustments()
    """The recalibration terms settled on the model's backtest (``training.warm_start``): none until
    ``with_start``, and none in a model registered before they existed."""
    price_edges: tuple[float, float] = (0.0, 0.0)
    """The price bands' edges the terms were settled with."""

    def __init__(
        self,
        encoder: FeatureEncoder,
        members: list[tuple[str, float, Any]],
        intervals: AdaptiveIntervals,
        comparables: ComparablesIndex,
        guard: ApplicabilityGuard,
    ) -> None:
        self.encoder = encoder
        self.members = members
        self.intervals = intervals
        self.comparables = comparables
        self.guard = guard
        names = list(encoder.feature_names_)
        self.groups = list(dict.fromkeys(group_of(n) for n in names))
        self.group_matrix = np.zeros((len(names), len(self.groups)))
        for i, name in enumerate(names):
            self.group_matrix[i, self.groups.index(group_of(name))] = 1.0
        self.weighted = [(w, m) for _, w, m in members if w > 0]
        self.z = {level: float(norm.ppf(0.5 + level / 2)) for level in CALIBRATED_LEVELS}
        self.col = {name: i for i, name in enumerate(names)}

    def with_start(self, start: Adjustments, price_edges: tuple[float, float]) -> Valuer:
        """The same model with its intervals started from ``start``."""
        started = copy.copy(self)
        started.start, started.price_edges = start, price_edges
        return started

    def log_price(self, Z: np.ndarray) -> np.ndarray:
        return self._attribute(Z)[0]

    def _attribute(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ln(price), ln(base price) and the weighted log effects per reported feature (rows x groups)."""
        log_price, base = np.zeros(len(Z)), np.zeros(len(Z))
        effects = np.zeros((len(Z), len(self.group_matrix)))
        for weight, model in self.weighted:
            if not hasattr(model, "contributions"):  # no attribution: all of it is "other features"
                log_price += weight * model.predict(Z)
                continue
            member = model.contributions(Z)
            log_price += weight * model.predict(Z)
            base += weight * member[:, -1]
            effects += weight * member[:, :-1]
        return log_price, base, effects @ self.group_matrix

    def _summary_log_price(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ln(price) from the members' plain predictions, and ln(base price) from one row (it is constant)."""
        log_price = np.zeros(len(Z))
        for weight, model in self.weighted:
            log_price += weight * model.predict(Z)
        base = self._attribute(Z[:1])[1] if len(Z) else np.zeros(0)
        return log_price, np.full(len(Z), base[0] if len(base) else 0.0)

    def contributions(
        self, effects: np.ndarray, log_gap: np.ndarray, base: np.ndarray, model_price: np.ndarray, price: np.ndarray
    ) -> list[list[dict[str, Any]]]:
        """The top features in dollars, then "other features" (and "price floor" when it applied)."""
        safe_gap = np.where(np.abs(log_gap) < 1e-12, 1.0, log_gap)
        per_log = np.where(np.abs(log_gap) < 1e-12, base, (model_price - base) / safe_gap)
        dollars = effects * per_log[:, None]
        k = min(N_CONTRIBUTIONS, dollars.shape[1])
        top = np.argsort(-np.abs(dollars), axis=1)[:, :k]
        values = np.take_along_axis(dollars, top, axis=1).round(2)
        other = (model_price - base.round(2) - values.sum(axis=1)).round(2)
        lift = (price - model_price).round(2)
        names = np.asarray(self.groups, dtype=object)[top].tolist()
        answers = []
        # tolist() gives Python floats already: each dict is built from them as they are.
        for row, vals, rest, floor in zip(names, values.tolist(), other.tolist(), lift.tolist(), strict=True):
            items = [{"feature": name, "value": v} for name, v in zip(row, vals, strict=True)]
            items.append({"feature": OTHER_FEATURES, "value": rest})
            if floor > 0:
                items.append({"feature": PRICE_FLOOR_CONTRIBUTION, "value": floor})
            answers.append(items)
        return answers

    def radius(self, Z: np.ndarray, verdict: Verdict) -> dict[float, np.ndarray]:
        """Log half-width per calibrated level: conformal, widened for flagged houses and for time past the data."""
        widening = np.where(verdict.in_domain, 1.0, FLAGGED_WIDENING)
        months = np.maximum(verdict.months_beyond - DRIFT_GRACE_MONTHS, 0)
        drift_sd = DRIFT_SD_PER_YEAR * np.sqrt(months / 12.0)
        return {
            level: np.hypot(r * widening, self.z[level] * drift_sd)
            for level, r in self.intervals.radius(Z).items()
            if level in self.z
        }

    def _comparables(self, Z: np.ndarray) -> list[list[dict[str, Any]]]:
        c = self.col
        return self.comparables.query(
            Z[:, c["longitude"]], Z[:, c["latitude"]], Z[:, c["gr_liv_area"]], Z[:, c["year_built"]]
        )

    def predict_frame(self, frame: pd.DataFrame, detail: Detail = "full") -> pd.DataFrame:
        """Answer a batch; the garbage collector pauses meanwhile (the result is many small dicts).

        A large batch at ``full`` detail is split into ``serving_threads`` parts answered side by side,
        each on one thread. Every step releases the GIL for part of its time (XGBoost, BLAS, the k-d
        trees, scipy's product) and holds it for the rest (encoding, building the explanations); split
        by rows, one part's Python overlaps the other's native code, where splitting each step between
        threads left the Python steps on one core. Rows are answered independently, so the answers are
        the same (to the last bits of a matrix product, whose summation order BLAS may choose by shape).
        A ``summary`` batch is not split: it gained ~10 % in process, and a bulk worker, whose own
        Python (Kafka, checks, answers) then competes with two parts for the GIL, spent more CPU a
        row with the split (74 against 66 us) and answered fewer rows a second. While the parts run,
        BLAS keeps to one thread (``blas_one_thread``): the parts' matrix products otherwise queued for
        its threads (10,000 rows: 536 against 687 ms in one process)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            threads = serving_threads(len(frame)) if detail == "full" else 1
            if threads == 1:
                return self._predict_frame(frame, detail)
            parts = row_parts(len(frame), threads)
            with blas_one_thread():
                answers = list(
                    serving_pool().map(
                        lambda i, rows: self._predict_part(frame.iloc[rows.start : rows.stop], detail, i % 2 == 1),
                        range(len(parts)),
                        parts,
                    )
                )
            return pd.concat(answers, ignore_index=True)
        finally:
            if collecting:
                gc.enable()

    def _predict_part(self, frame: pd.DataFrame, detail: Detail, comparables_first: bool) -> pd.DataFrame:
        with one_thread_each():
            return self._predict_frame(frame, detail, comparables_first)

    def _predict_frame(self, frame: pd.DataFrame, detail: Detail, comparables_first: bool = False) -> pd.DataFrame:
        """``comparables_first``: find the comparables before the attributions, not after. Every other
        part of a split batch does, so that building its comparables (Python objects, holding the GIL)
        runs beside the other part's attributions (native code) instead of beside its own comparables
        at the end (10,000 rows: 489 against 532 ms, median of ten alternating rounds in one process)."""
        X = columns_of(frame)
        verdict = self.guard.check_columns(X)
        Z = self.encoder.encode(X)
        full = detail == "full"
        found = self._comparables(Z) if full and comparables_first else None
        if full:
            log_model_price, log_base, effects = self._attribute(Z)
        else:
            log_model_price, log_base = self._summary_log_price(Z)
        model_price, base = np.exp(log_model_price), np.exp(log_base)
        price = np.maximum(model_price, PRICE_FLOOR)
        log_price = np.log(price)
        out: dict[str, Any] = {"price": price}
        radius = self.radius(Z, verdict)
        if self.start.log_factors:
            segments = segments_of(X["sale_condition"], X["overall_qual"], price, self.price_edges)
            radius = self.start.scale_radius(radius, segments)
        for level in INTERVAL_LEVELS:
            pct = round(level * 100)
            out[f"lower_{pct}"] = np.maximum(np.exp(log_price - radius[level]), PRICE_FLOOR)
            out[f"upper_{pct}"] = np.maximum(np.exp(log_price + radius[level]), PRICE_FLOOR)
        fsd = radius[FSD_LEVEL]
        in_domain = verdict.in_domain
        out["fsd"] = fsd.round(4)
        out["confidence"] = np.clip(1.0 - fsd, 0.0, 1.0).round(4)
        out["confidence_band"] = [
            confidence_band(f, ok) for f, ok in zip(fsd.tolist(), in_domain.tolist(), strict=True)
        ]
        out["base_price"] = base.round(2)
        if full:
            out["contributions"] = self.contributions(effects, log_model_price - log_base, base, model_price, price)
            out["comparables"] = self._comparables(Z) if found is None else found
        else:
            out["contributions"] = [[] for _ in range(len(Z))]
            out["comparables"] = [[] for _ in range(len(Z))]
        out["applicability"] = [
            {"in_domain": ok, "flags": flags, "novelty": round(novelty, 4)}
            for ok, flags, novelty in zip(in_domain.tolist(), verdict.flags, verdict.novelty.tolist(), strict=True)
        ]
        out["months_beyond_data"] = verdict.months_beyond
        out["refusal"] = verdict.refusal
        return pd.DataFrame(out, columns=list(VALUATION_COLUMNS))


class ValuationModel(PythonModel):
    """MLflow pyfunc: a ``FEATURE_NAMES`` DataFrame in, ``VALUATION_COLUMNS`` DataFrame out."""

    def __init__(self, valuer: Valuer) -> None:
        self.valuer = valuer

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        detail = (params or {}).get("detail", "full")
        if detail not in DETAILS:
            raise ValueError(f"detail must be one of {DETAILS}, not {detail!r}")
        return self.valuer.predict_frame(model_input, detail)
