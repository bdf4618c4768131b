"""A challenger for the tests: the session champion's model with every price scaled by a factor.

Pickled by reference (this module is importable in the worker's process), so it loads like any
registered version, and its answers differ from the champion's by a known ratio.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

PRICE_COLUMNS = ("price", "lower_80", "upper_80", "lower_90", "upper_90", "base_price")


class ScaledModel(PythonModel):
    def __init__(self, inner: PythonModel, factor: float) -> None:
        self.inner = inner
        self.factor = factor

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        out: pd.DataFrame = self.inner.predict(context, model_input, params)
        out = out.copy()
        for column in PRICE_COLUMNS:
            out[column] = out[column] * self.factor
        out["contributions"] = [[c | {"value": c["value"] * self.factor} for c in row] for row in out["contributions"]]
        return out
