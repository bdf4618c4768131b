"""Lookups: the version under an alias (the champion is the one under ``Settings.model_alias``), and the
registered versions as the API and the dashboard describe them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from infra.settings import Settings
from registry.client import configure
from registry.contract import feature_contract, fits_contract
from registry.errors import NoVersionError, RegistryError
from registry.tags import VersionTag, promoted_at
from schemas.ratio_study import RATIO_STUDY_ARTIFACT, RatioStudy
from schemas.registry import ModelPublic, VersionInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

T = TypeVar("T")


def guarded(tracking_uri: str, read: Callable[[], T]) -> T:
    """``read()``, with any failure of the store (MLflow raises many types: store, HTTP, sqlalchemy) as a
    ``RegistryError``; a missing version stays a ``NoVersionError``."""
    try:
        return read()
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(f"MLflow at {tracking_uri} is not available ({type(exc).__name__}: {exc})") from exc


def version_under(client: MlflowClient, settings: Settings, alias: str | None = None) -> ModelVersion:
    """The version holding ``alias`` (by default the serving one, ``Settings.model_alias``)."""
    from mlflow.exceptions import MlflowException

    alias = alias or settings.model_alias
    try:
        return client.get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as exc:
        raise NoVersionError(f"models:/{settings.model_name}@{alias}: {exc.message}") from exc


def compatible_version_under(client: MlflowClient, settings: Settings, alias: str | None = None) -> ModelVersion | None:
    """The version holding ``alias``, if there is one and it was trained for this code's feature contract."""
    try:
        version = version_under(client, settings, alias)
    except NoVersionError:
        return None
    return version if fits_contract(version) else None


def cv_rmse_of(client: MlflowClient, version: ModelVersion) -> float | None:
    """The version's tagged CV RMSE, or its run's metric for versions registered before the tag."""
    tagged = (version.tags or {}).get(VersionTag.CV_RMSE)
    if tagged is not None:
        return float(tagged)
    if version.run_id:
        value = client.get_run(version.run_id).data.metrics.get("cv_rmse")
        return None if value is None else float(value)
    return None


def champion_cv_rmse(settings: Settings) -> float | None:
    """The CV RMSE of the champion, or None when there is none for this feature contract."""
    client = configure(settings)
    version = compatible_version_under(client, settings)
    return None if version is None else cv_rmse_of(client, version)


def champion_exists(settings: Settings) -> bool:
    """A champion exists that serves this code's ``PropertyFeatures`` (one for another contract counts as none)."""
    return compatible_version_under(configure(settings), settings) is not None


def trained_quick(client: MlflowClient, version: ModelVersion) -> bool:
    """Whether a version came from a quick run: its ``training_mode`` tag, or for versions
    registered before the tag existed, its run's ``quick`` parameter."""
    mode = (version.tags or {}).get(VersionTag.TRAINING_MODE)
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
        if (full.tags or {}).get(VersionTag.FEATURE_CONTRACT) == contract and not trained_quick(client, full):
            return True
    return False


def _when(millis: int | None) -> datetime | None:
    return None if not millis else datetime.fromtimestamp(millis / 1000, tz=UTC)


def describe(client: MlflowClient, settings: Settings, alias: str | None = None) -> ModelPublic:
    """The version under ``alias`` (default: the serving one) with its run's metrics and ratio study."""
    version = version_under(client, settings, alias)
    metrics = dict(client.get_run(version.run_id).data.metrics) if version.run_id else {}
    study = run_files(client, version.run_id, (RATIO_STUDY_ARTIFACT,)) if version.run_id else {}
    return ModelPublic(
        name=settings.model_name,
        alias=alias or settings.model_alias,
        version=str(version.version),
        run_id=version.run_id,
        registered_at=_when(version.creation_timestamp),
        promoted_at=promoted_at(version.tags),
        metrics={k: float(v) for k, v in metrics.items()},
        ratio_study=RatioStudy.model_validate_json(study[RATIO_STUDY_ARTIFACT]) if study else None,
    )


def history(client: MlflowClient, model_name: str) -> list[VersionInfo]:
    """Every registered version, newest first, with its aliases and its run's metrics and parameters."""
    found = client.search_model_versions(f"name = '{model_name}'")
    # Searches leave aliases out on some stores; the registered model always lists them.
    aliases: dict[str, list[str]] = {}
    if found:
        for alias, version in client.get_registered_model(model_name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    infos = []
    for mv in sorted(found, key=lambda v: int(v.version), reverse=True):
        run = client.get_run(mv.run_id) if mv.run_id else None
        infos.append(
            VersionInfo(
                version=str(mv.version),
                aliases=aliases.get(str(mv.version), []),
                run_id=mv.run_id,
                registered_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
                promoted_at=(mv.tags or {}).get(VersionTag.PROMOTED_AT),
                metrics=dict(run.data.metrics) if run else {},
                params=dict(run.data.params) if run else {},
            )
        )
    return infos


def run_files(client: MlflowClient, run_id: str, paths: Iterable[str]) -> dict[str, bytes]:
    """The bytes of each of a run's artifacts (path -> bytes); a missing one is left out."""
    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        for path in paths:
            try:
                local: Any = client.download_artifacts(run_id, path, folder)
            except Exception:  # noqa: S112 - an older run without this artifact is not an error
                continue
            found[path] = Path(local).read_bytes()
    return found
