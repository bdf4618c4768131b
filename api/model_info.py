"""The serving champion as the registry describes it; MLflow is imported on first use and the
answer cached for a short time, so ``GET /model`` costs the registry one call per period."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.settings import Settings
from schemas.ratio_study import RATIO_STUDY_ARTIFACT, RatioStudy
from schemas.registry import ModelPublic

CACHE_SECONDS = 15.0
PROMOTED_AT_TAG = "promoted_at"


class NoModelError(RuntimeError):
    """No version is registered under the serving alias, or the registry is unreachable."""


def _when(millis: int | None) -> datetime | None:
    return None if not millis else datetime.fromtimestamp(millis / 1000, tz=UTC)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class ModelCatalog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._cached: tuple[float, ModelPublic] | None = None
        self._lock = asyncio.Lock()

    def _lookup(self) -> ModelPublic:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        if self._client is None:
            uri = self.settings.tracking_uri
            self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        name, alias = self.settings.model_name, self.settings.model_alias
        try:
            version = self._client.get_model_version_by_alias(name, alias)
            metrics = dict(self._client.get_run(version.run_id).data.metrics) if version.run_id else {}
        except MlflowException as exc:
            raise NoModelError(f"no model under {self.settings.champion_uri}") from exc
        return ModelPublic(
            name=name,
            alias=alias,
            version=str(version.version),
            run_id=version.run_id,
            registered_at=_when(version.creation_timestamp),
            promoted_at=_parse((version.tags or {}).get(PROMOTED_AT_TAG)),
            metrics={k: float(v) for k, v in metrics.items()},
            ratio_study=self._ratio_study(version.run_id),
        )

    def _ratio_study(self, run_id: str | None) -> RatioStudy | None:
        """The run's ratio study by segment, or None when the run logged none."""
        from mlflow.exceptions import MlflowException

        if not run_id:
            return None
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self._client.download_artifacts(run_id, RATIO_STUDY_ARTIFACT, folder)
            except (MlflowException, OSError):
                return None
            return RatioStudy.model_validate_json(Path(path).read_text(encoding="utf-8"))

    async def champion(self) -> ModelPublic:
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            model = await asyncio.to_thread(self._lookup)
            self._cached = (time.monotonic(), model)
            return model
