"""A version's pyfunc and the training distribution its run logged, both read from the registry.

Models are loaded by alias (``models:/<name>@<alias>``) or, once an alias has been resolved, by that
version's number, so a reader that looked the alias up loads exactly the version it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import structlog

from infra.settings import Settings
from registry.client import connect
from schemas.drift import DRIFT_REFERENCE_ARTIFACT, DriftReference

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel

log = structlog.get_logger(__name__)

Predict = Callable[..., Any]
"""``predict(frame, params=None)``: the pyfunc's ``predict`` or its flavour's own."""


def model_uri(settings: Settings, *, version: str | None = None, alias: str | None = None) -> str:
    """The registry URI of a version by number, else of the version under ``alias`` (default: the serving one)."""
    if version is not None:
        return f"models:/{settings.model_name}/{version}"
    if alias is None:
        return settings.champion_uri
    return f"models:/{settings.model_name}@{alias}"


def load_pyfunc(settings: Settings, *, version: str | None = None, alias: str | None = None) -> PyFuncModel:
    """The pyfunc of a version (see ``model_uri``), from the settings' registry."""
    import mlflow.pyfunc

    connect(settings)
    return cast("PyFuncModel", mlflow.pyfunc.load_model(model_uri(settings, version=version, alias=alias)))


def drift_reference(client: MlflowClient, settings: Settings, version: str) -> DriftReference | None:
    """The training distribution the version's run logged; None (drift not measured) if absent."""
    import mlflow.artifacts

    try:
        run_id = client.get_model_version(settings.model_name, version).run_id
        raw = mlflow.artifacts.load_dict(f"runs:/{run_id}/{DRIFT_REFERENCE_ARTIFACT}")
        return DriftReference.model_validate(raw)
    except Exception as exc:  # a model without a reference still serves
        log.warning("drift_reference_missing", version=version, error=str(exc)[:300])
        return None


def direct_predict(pyfunc: PyFuncModel, probe: pd.DataFrame) -> Predict | None:
    """The flavour's own ``predict``, if it answers ``probe`` exactly as the pyfunc does.

    ``PyFuncModel.predict`` checks and casts every input against the signature, ~40 % of a small
    batch's model time here. The worker's frames are built from validated ``PropertyFeatures`` with
    exactly ``FEATURE_NAMES`` columns, so that check is redundant; a model whose answer depends on
    it (it differs on the probe) keeps the checked path.
    """
    inner = getattr(pyfunc, "_model_impl", None)
    call = getattr(inner, "predict", None)
    if call is None:
        return None
    try:
        if not pd.DataFrame(call(probe)).equals(pd.DataFrame(pyfunc.predict(probe))):
            log.warning("direct_predict_differs", reason="the pyfunc's checked path is kept")
            return None
    except Exception as exc:
        log.warning("direct_predict_failed", error=repr(exc)[:300])
        return None
    return cast(Predict, call)
