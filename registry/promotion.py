"""Registration and promotion: a trained pyfunc becomes a tagged version, and takes the serving alias
only if it beats the version holding it."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from infra.settings import Settings
from registry.client import configure
from registry.contract import feature_contract
from registry.loading import model_uri
from registry.protocol import PromotionDecision, Rescored, decide_promotion
from registry.tags import VersionTag, tag_value
from registry.versions import champion_cv_rmse, compatible_version_under, trained_quick
from schemas.messages import utc_now

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from mlflow.pyfunc.model import PythonModel

log = structlog.get_logger(__name__)

SERVING_PACKAGES = (
    "mlflow",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "xgboost-cpu",
    "pydantic",
    "structlog",
    "scipy",
    "threadpoolctl",
)


def decide(
    settings: Settings,
    cv_rmse: float,
    protocol: str,
    champion_rmse: float | None,
    rescore: Callable[[str], Rescored] | None,
) -> PromotionDecision:
    """``decide_promotion`` against the serving version's protocol tag, re-scoring both models on the
    same rows (when ``rescore`` is given) if the champion was evaluated under another protocol."""
    champion = compatible_version_under(configure(settings), settings)
    champion_protocol = None if champion is None else (champion.tags or {}).get(VersionTag.EVALUATION_PROTOCOL)
    rescored = None
    if champion is not None and champion_rmse is not None and champion_protocol != protocol and rescore is not None:
        rescored = rescore(model_uri(settings, version=str(champion.version)))
    return decide_promotion(cv_rmse, protocol, champion_rmse, champion_protocol, rescored)


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages that train and serve (logged with each run)."""
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


def promote(settings: Settings, version: str, alias: str | None = None) -> None:
    """Move ``alias`` (default: the serving one) to ``version``, tagging when."""
    client = configure(settings)
    client.set_registered_model_alias(settings.model_name, alias or settings.model_alias, version)
    client.set_model_version_tag(settings.model_name, version, VersionTag.PROMOTED_AT, utc_now().isoformat())


def winner_alias(settings: Settings) -> str:
    """The alias a new winner takes: the challenger's when a fully trained champion serves and
    ``Settings.train_registers_challenger`` is on (it meets live traffic first), else the champion's."""
    if not settings.train_registers_challenger:
        return settings.model_alias
    client = configure(settings)
    champion = compatible_version_under(client, settings)
    if champion is None or trained_quick(client, champion):
        return settings.model_alias
    return settings.challenger_alias


def register(
    settings: Settings,
    model: PythonModel,
    code_paths: Sequence[Path],
    signature: ModelSignature,
    input_example: pd.DataFrame,
    figures: dict[str, float],
    mode: str = "full",
    protocol: str = "",
    rescore: Callable[[str], Rescored] | None = None,
) -> tuple[str, str | None]:
    """Log the pyfunc (with the packages in ``code_paths``) in the active run, register it with ``figures``
    as version tags (``cv_rmse`` required) and its evaluation ``protocol``, and give it ``winner_alias`` if
    ``decide_promotion`` says so (figures compared only under one protocol; ``rescore(champion_uri)``
    scores both models on the same rows when the protocols differ). Returns the version and the alias it took (None)."""
    import mlflow.pyfunc

    cv_rmse = figures[VersionTag.CV_RMSE]
    client = configure(settings)
    previous = champion_cv_rmse(settings)
    decision = decide(settings, cv_rmse, protocol, previous, rescore)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        code_paths=[str(path) for path in code_paths],
        signature=signature,
        input_example=input_example,
        registered_model_name=settings.model_name,
        pip_requirements=_requirements(),
    )
    version = str(info.registered_model_version)
    for tag, value in figures.items():
        client.set_model_version_tag(settings.model_name, version, tag, tag_value(value))
    client.set_model_version_tag(settings.model_name, version, VersionTag.FEATURE_CONTRACT, feature_contract())
    client.set_model_version_tag(settings.model_name, version, VersionTag.TRAINING_MODE, mode)
    client.set_model_version_tag(settings.model_name, version, VersionTag.EVALUATION_PROTOCOL, protocol)
    alias = winner_alias(settings) if decision.promote else None
    if alias is not None:
        promote(settings, version, alias)
    promoted = alias == settings.model_alias
    log.info(
        "model_registered",
        name=settings.model_name,
        version=version,
        cv_rmse=round(cv_rmse, 5),
        champion_cv_rmse=previous,
        promoted=promoted,
        alias=alias,
        basis=decision.basis,
        reason=decision.reason,
    )
    return version, alias
