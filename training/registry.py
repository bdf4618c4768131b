"""MLflow: one experiment, one registered pyfunc per run, the alias moved only on improvement."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, get_args

import mlflow
import mlflow.pyfunc
import pandas as pd
import structlog
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from infra.settings import Settings
from schemas.features import PropertyFeatures
from schemas.messages import utc_now
from training.protocol import PROTOCOL_TAG, PromotionDecision, Rescored, decide_promotion
from training.serving import ValuationModel

log = structlog.get_logger(__name__)

EXPERIMENT = "valuestream-price"
CV_RMSE_TAG = "cv_rmse"
PROMOTED_AT_TAG = "promoted_at"
CONTRACT_TAG = "feature_contract"
MODE_TAG = "training_mode"
"""'quick' or 'full': how the version was trained (``python -m training --quick`` or not)."""
PACKAGE_DIR = Path(__file__).resolve().parent
SERVING_PACKAGES = ("mlflow", "numpy", "pandas", "scikit-learn", "xgboost-cpu", "pydantic", "structlog", "scipy")


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at the settings' store and make sure the experiment exists."""
    (settings.state_path / "mlflow").mkdir(parents=True, exist_ok=True)
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def feature_contract() -> str:
    """A short hash of the input contract the encoder depends on: field names, types and levels."""
    fields = {name: str(field.annotation) for name, field in PropertyFeatures.model_fields.items()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _champion(client: MlflowClient, settings: Settings) -> ModelVersion | None:
    """The version holding the alias, if it was trained for this code's feature contract."""
    try:
        version = client.get_model_version_by_alias(settings.model_name, settings.model_alias)
    except MlflowException:
        return None
    if version.tags.get(CONTRACT_TAG) != feature_contract():
        log.warning(
            "champion_for_another_contract",
            version=version.version,
            contract=version.tags.get(CONTRACT_TAG),
            expected=feature_contract(),
        )
        return None
    return version


def tag_value(figure: float) -> str:
    return f"{figure:.6f}"


def _promotion(
    client: MlflowClient,
    settings: Settings,
    cv_rmse: float,
    protocol: str,
    champion_rmse: float | None,
    rescore: Callable[[str], Rescored] | None,
) -> PromotionDecision:
    """``decide_promotion`` with the champion's protocol tag, re-scoring both models on the same
    rows (when ``rescore`` is given) if the champion was evaluated under another protocol."""
    champion = _champion(client, settings)
    champion_protocol = None if champion is None else champion.tags.get(PROTOCOL_TAG)
    rescored = None
    if champion is not None and champion_rmse is not None and champion_protocol != protocol and rescore:
        rescored = rescore(f"models:/{settings.model_name}/{champion.version}")
    return decide_promotion(cv_rmse, protocol, champion_rmse, champion_protocol, rescored)


def champion_cv_rmse(settings: Settings) -> float | None:
    """The CV RMSE of the champion, or None when there is none for this feature contract."""
    client = configure(settings)
    version = _champion(client, settings)
    if version is None:
        return None
    tagged = version.tags.get(CV_RMSE_TAG)
    if tagged is not None:
        return float(tagged)
    if version.run_id:
        value = client.get_run(version.run_id).data.metrics.get("cv_rmse")
        return None if value is None else float(value)
    return None


def champion_exists(settings: Settings) -> bool:
    """A champion exists that serves this code's ``PropertyFeatures`` (one trained before a field was
    added or changed would fail on the new columns, so it counts as none and is replaced)."""
    return _champion(configure(settings), settings) is not None


def trained_quick(client: MlflowClient, version: ModelVersion) -> bool:
    """Whether a version came from a quick run: its ``training_mode`` tag, or for versions
    registered before the tag existed, its run's ``quick`` parameter."""
    mode = version.tags.get(MODE_TAG)
    if mode is not None:
        return bool(mode == "quick")
    if not version.run_id:
        return False
    return bool(client.get_run(version.run_id).data.params.get("quick") == "True")


def full_model_registered(settings: Settings) -> bool:
    """Whether a version trained in full (not ``--quick``) for this code's feature contract is
    registered, promoted or not: ``make run`` then has no full training left to do."""
    client = configure(settings)
    contract = feature_contract()
    for version in client.search_model_versions(f"name = '{settings.model_name}'"):
        # Searches may leave tags out on some stores: read each version whole.
        full = client.get_model_version(settings.model_name, version.version)
        if full.tags.get(CONTRACT_TAG) == contract and not trained_quick(client, full):
            return True
    return False


def environment() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for package in (*SERVING_PACKAGES, "tensorflow-cpu", "typer", "tqdm", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"python": sys.version, "platform": platform.platform(), "packages": versions}


def _requirements() -> list[str]:
    found = []
    for package in SERVING_PACKAGES:
        try:
            found.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return found


NULLABLE = frozenset(
    name for name, field in PropertyFeatures.model_fields.items() if type(None) in get_args(field.annotation)
)
"""The fields a request may leave empty (``year_remod_add``, coordinates, ``overall_qual``)."""


def signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The inferred signature, except that the nullable fields accept ints, floats or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(example, output)
    anything = AnyType()  # type: ignore[no-untyped-call]
    specs = [
        ColSpec(anything, spec.name, required=False) if spec.name in NULLABLE else spec
        for spec in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(specs), outputs=inferred.outputs)


def register(
    settings: Settings,
    model: ValuationModel,
    signature: ModelSignature,
    input_example: pd.DataFrame,
    figures: dict[str, float],
    mode: str = "full",
    protocol: str = "",
    rescore: Callable[[str], Rescored] | None = None,
) -> tuple[str, bool]:
    """Log the pyfunc in the active run, register it with ``figures`` as version tags (``cv_rmse``
    required) and its evaluation ``protocol``, and move the alias if ``decide_promotion`` says so
    (figures compared only under the same protocol; ``rescore(champion_uri)`` scores both models on
    the same rows when the protocols differ), tagging ``promoted_at``."""
    cv_rmse = figures[CV_RMSE_TAG]
    client = configure(settings)
    previous = champion_cv_rmse(settings)
    decision = _promotion(client, settings, cv_rmse, protocol, previous, rescore)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        code_paths=[str(PACKAGE_DIR)],
        signature=signature,
        input_example=input_example,
        registered_model_name=settings.model_name,
        pip_requirements=_requirements(),
    )
    version = str(info.registered_model_version)
    for tag, value in figures.items():
        client.set_model_version_tag(settings.model_name, version, tag, tag_value(value))
    client.set_model_version_tag(settings.model_name, version, CONTRACT_TAG, feature_contract())
    client.set_model_version_tag(settings.model_name, version, MODE_TAG, mode)
    client.set_model_version_tag(settings.model_name, version, PROTOCOL_TAG, protocol)
    promoted = decision.promote
    if promoted:
        client.set_registered_model_alias(settings.model_name, settings.model_alias, version)
        client.set_model_version_tag(settings.model_name, version, PROMOTED_AT_TAG, utc_now().isoformat())
    log.info(
        "model_registered",
        name=settings.model_name,
        version=version,
        cv_rmse=round(cv_rmse, 5),
        champion_cv_rmse=previous,
        promoted=promoted,
        basis=decision.basis,
        reason=decision.reason,
    )
    return version, promoted
