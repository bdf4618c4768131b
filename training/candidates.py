"""The candidate models: each a full pipeline from raw records to a price, fitted on log price.

A candidate that is not ``servable`` is cross-validated and reported but never served or
blended (its prediction is too slow for the serving budget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def candidates(quick: bool, use_tf: bool) -> list[Candidate]:
    if quick:
        return [
            Candidate("huber_linear", HuberLinearModel),
            Candidate("xgboost", lambda: XGBoostModel(n_estimators=200, learning_rate=0.12)),
        ]
    found = [
        Candidate("huber_linear", HuberLinearModel),
        Candidate("hist_gb", HistGBModel, servable=False),
        Candidate("xgboost", XGBoostModel),
    ]
    if use_tf:
        found.append(Candidate("keras_mlp", MLPModel))
    return found
