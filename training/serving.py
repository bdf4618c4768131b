"""The served model: encoder + weighted members + adaptive intervals + explanations + comparables.

Explanations (``contributions``): the log-space attributions of the attributing members
(TreeSHAP for XGBoost, coefficient x centred value for the linear model), weighted by their
blend weights renormalised over those members, summed per reported feature (one-hot levels
fold into their field; coordinates, distances and nearest-sale price levels into
``location``). A log effect phi becomes dollars as ``price x (1 - exp(-phi))``: the change
from the price without that effect to the predicted price. The five largest by absolute
dollars are returned, largest first.
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
        self.attribution_total = sum(w for w, _ in self.attributing)
        self.col = {name: i for i, name in enumerate(names)}

    def log_price(self, Z: np.ndarray) -> np.ndarray:
        total = np.zeros(len(Z))
        for _, weight, model in self.members:
            if weight > 0:
                total += weight * model.predict(Z)
        return total

    def contributions(self, Z: np.ndarray, price: np.ndarray) -> list[list[dict[str, Any]]]:
        phi = np.zeros((len(Z), len(self.group_matrix)))
        for weight, model in self.attributing:
            phi += (weight / self.attribution_total) * model.contributions(Z)[:, :-1]
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
        log_price = self.log_price(Z)
        price = np.exp(log_price)
        out: dict[str, Any] = {"price": price}
        radius = self.intervals.radius(Z)
        for level in INTERVAL_LEVELS:
            pct = round(level * 100)
            out[f"lower_{pct}"] = np.exp(log_price - radius[level])
            out[f"upper_{pct}"] = np.exp(log_price + radius[level])
        out["contributions"] = self.contributions(Z, price)
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
