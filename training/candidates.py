"""The candidate models: each a full pipeline from raw records to a price, fitted on log price.

A candidate that is not ``servable`` is cross-validated and reported but never served or
blended (its prediction is too slow for the serving budget).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from training.features import FeatureEncoder
from training.models import HistGBModel, HuberLinearModel, MLPModel, XGBoostModel


@dataclass(frozen=True)
class Candidate:
    name: str
    make_model: Callable[[], BaseEstimator]
    servable: bool = True

    def pipeline(self) -> TransformedTargetRegressor:
        """Raw ``FEATURE_NAMES`` frame in, price in dollars out; the inner pipeline sees log price."""
        inner = Pipeline([("features", FeatureEncoder()), ("model", self.make_model())])
        return TransformedTargetRegressor(regressor=inner, func=np.log, inverse_func=np.exp, check_inverse=False)


QUICK_XGBOOST: Mapping[str, Any] = {"n_estimators": 200, "learning_rate": 0.12}


def candidates(quick: bool, use_tf: bool, xgboost: Mapping[str, Any] | None = None) -> list[Candidate]:
    """``xgboost``: the boosted trees' settings (``selection.choose``); the defaults without it."""
    settings = dict(QUICK_XGBOOST if quick and xgboost is None else xgboost or {})
    if quick:
        return [
            Candidate("huber_linear", HuberLinearModel),
            Candidate("xgboost", lambda: XGBoostModel(**settings)),
        ]
    found = [
        Candidate("huber_linear", HuberLinearModel),
        Candidate("hist_gb", HistGBModel, servable=False),
        Candidate("xgboost", lambda: XGBoostModel(**settings)),
    ]
    if use_tf:
        found.append(Candidate("keras_mlp", MLPModel))
    return found
