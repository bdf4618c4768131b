"""The served model: encoder + weighted members + adaptive intervals + explanations + comparables.

Explanations (``contributions``): the log-space attributions of the attributing members
(TreeSHAP for XGBoost, coefficient x centred value for the linear model), weighted by their
blend weights renormalised over those members, summed per reported feature (one-hot levels
fold into their field; coordinates, distances and nearest-sale price levels into
``location``). A log effect phi becomes dollars as ``price x (1 - exp(-phi))``: the change
from the price without that effect to the predicted price. The five largest by absolute
dollars are returned, largest first.

An attributing member's effects plus its bias sum to its prediction, so a batch computes them
once and takes those members' predictions as row sums: XGBoost's forest is walked once, not
twice (about 5 % of a 10,000-row batch).
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from schemas import INTERVAL_LEVELS, VALUATION_COLUMNS
from training.comparables import ComparablesIndex
from training.features import FeatureEncoder, group_of
from training.intervals import AdaptiveIntervals

N_CONTRIBUTIONS = 5


class Valuer:
    """Prices a ``FEATURE_NAMES`` frame; every step is vectorised over rows."""

    def __init__(
        self,
        encoder: FeatureEncoder,
        members: list[tuple[str, float, Any]],
        intervals: AdaptiveIntervals,
        comparables: ComparablesIndex,
    ) -> None:
        self.encoder = encoder
        self.members = members
        self.intervals = intervals
        self.comparables = comparables
        names = list(encoder.feature_names_)
        self.groups = list(dict.fromkeys(group_of(n) for n in names))
        self.group_matrix = np.zeros((len(names), len(self.groups)))
        for i, name in enumerate(names):
            self.group_matrix[i, self.groups.index(group_of(name))] = 1.0
        self.attributing = [(w, m) for _, w, m in members if hasattr(m, "contributions") and w > 0]
        self.predicting = [(w, m) for _, w, m in members if not hasattr(m, "contributions") and w > 0]
        self.attribution_total = sum(w for w, _ in self.attributing)
        self.col = {name: i for i, name in enumerate(names)}

    def log_price(self, Z: np.ndarray) -> np.ndarray:
        return self._log_price(Z, self._effects(Z))

    def _effects(self, Z: np.ndarray) -> list[np.ndarray]:
        """Each attributing member's per-column effects, bias last (rows x columns + 1)."""
        return [model.contributions(Z) for _, model in self.attributing]

    def _log_price(self, Z: np.ndarray, effects: list[np.ndarray]) -> np.ndarray:
        total = np.zeros(len(Z))
        for (weight, _), member_effects in zip(self.attributing, effects, strict=True):
            total += weight * member_effects.sum(axis=1, dtype=float)
        for weight, model in self.predicting:
            total += weight * model.predict(Z)
        return total

    def contributions(self, effects: list[np.ndarray], price: np.ndarray) -> list[list[dict[str, Any]]]:
        phi = np.zeros((len(price), len(self.group_matrix)))
        for (weight, _), member_effects in zip(self.attributing, effects, strict=True):
            phi += (weight / self.attribution_total) * member_effects[:, :-1]
        dollars = price[:, None] * (1.0 - np.exp(-(phi @ self.group_matrix)))
        k = min(N_CONTRIBUTIONS, dollars.shape[1])
        top = np.argsort(-np.abs(dollars), axis=1)[:, :k]
        values = np.take_along_axis(dollars, top, axis=1).round(2)
        groups = self.groups
        return [
            [{"feature": groups[g], "value": float(v)} for g, v in zip(row, vals, strict=True)]
            for row, vals in zip(top.tolist(), values.tolist(), strict=True)
        ]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Answer a batch; the garbage collector pauses meanwhile (the result is many small dicts)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._predict_frame(frame)
        finally:
            if collecting:
                gc.enable()

    def _predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        Z = self.encoder.transform(frame)
        effects = self._effects(Z)
        log_price = self._log_price(Z, effects)
        price = np.exp(log_price)
        out: dict[str, Any] = {"price": price}
        radius = self.intervals.radius(Z)
        for level in INTERVAL_LEVELS:
            pct = round(level * 100)
            out[f"lower_{pct}"] = np.exp(log_price - radius[level])
            out[f"upper_{pct}"] = np.exp(log_price + radius[level])
        out["contributions"] = self.contributions(effects, price)
        c = self.col
        out["comparables"] = self.comparables.query(
            Z[:, c["longitude"]], Z[:, c["latitude"]], Z[:, c["gr_liv_area"]], Z[:, c["year_built"]]
        )
        return pd.DataFrame(out, columns=list(VALUATION_COLUMNS))


class ValuationModel(PythonModel):
    """MLflow pyfunc: a ``FEATURE_NAMES`` DataFrame in, ``VALUATION_COLUMNS`` DataFrame out."""

    def __init__(self, valuer: Valuer) -> None:
        self.valuer = valuer

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.valuer.predict_frame(model_input)
