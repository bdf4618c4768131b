"""A served model: loaded from the MLflow registry by alias, reloaded when the alias moves.

One holder per alias: the champion's (required: a worker waits for it) and the challenger's
(optional: no version under its alias means no challenger, and a version that fails to load
is refused without touching the champion's holder)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from consumers.metrics import MODEL_RELOADS, MODEL_VERSION, VARIANT_VERSION
from infra.memory import freeze_long_lived
from infra.settings import Settings
from registry.client import connect
from registry.errors import NoVersionError
from registry.loading import Predict, direct_predict, drift_reference, load_pyfunc
from registry.versions import version_under
from schemas import FEATURE_NAMES, VALUATION_COLUMNS, ModelRef, PropertyFeatures, Variant
from schemas.chunks import Detail
from schemas.drift import DriftReference
from schemas.features import EXAMPLE_HOUSE

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    ref: ModelRef
    pyfunc: PyFuncModel
    drift_reference: DriftReference | None = None
    direct: Predict | None = None  # the model without MLflow's per-call input-schema enforcement

    def predict(self, frame: pd.DataFrame, detail: Detail = "full") -> pd.DataFrame:
        """``detail="summary"``: no contributions or comparables (empty lists), for bulk rows without them."""
        params = {"detail": detail} if detail != "full" else None
        output: Any = (self.direct or self.pyfunc.predict)(frame, params=params)
        if not isinstance(output, pd.DataFrame) or list(output.columns) != list(VALUATION_COLUMNS):
            raise TypeError(f"model {self.ref.version} returned {type(output).__name__}, not the valuation columns")
        return output


def features_frame(features: Sequence[PropertyFeatures]) -> pd.DataFrame:
    """The model's input: validated houses' fields as columns (their fields are plain values), built
    column by column (faster than a frame from one dict per row).

    Every column holds Python objects, as the model reads them (``training.features.Columns``):
    pandas would otherwise infer its Arrow-backed ``str`` dtype for the 22 text fields and the model
    would convert them back, which cost a worker answering one request at a time more than half of
    its frame handling (1.8 ms against 0.7 ms per batch; at half load the frame went from 12 % to 7 %
    of the worker's CPU samples)."""
    rows = [f.__dict__ for f in features]
    return columns_frame({name: [row[name] for row in rows] for name in FEATURE_NAMES})


def columns_frame(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """The model's input from checked values by field (``FEATURE_NAMES``, as ``schemas.checks`` gives them)."""
    return pd.DataFrame(columns, columns=list(FEATURE_NAMES), dtype=object)


class ModelHolder:
    """Holds the model under one alias; a batch takes ``current`` once, so a swap happens between batches."""

    def __init__(
        self, settings: Settings, alias: str | None = None, variant: Variant = "champion", *, optional: bool = False
    ) -> None:
        self.settings = settings
        self.alias = alias or settings.model_alias
        self.variant: Variant = variant
        self.optional = optional
        self.client = connect(settings)
        self._current: LoadedModel | None = None

    @property
    def current(self) -> LoadedModel:
        if self._current is None:
            raise NoVersionError(f"no model loaded from models:/{self.settings.model_name}@{self.alias}")
        return self._current

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def serving(self) -> LoadedModel | None:
        return self._current

    def champion_version(self) -> str:
        """The version under this holder's alias (the champion's, unless the holder is another's)."""
        return str(version_under(self.client, self.settings, self.alias).version)

    def load(self, version: str) -> LoadedModel:
        pyfunc = load_pyfunc(self.settings, version=version)
        probe = features_frame(
            [
                PropertyFeatures(gr_liv_area=1500, year_built=1990, neighborhood="North_Ames"),
                PropertyFeatures.model_validate(EXAMPLE_HOUSE),
            ]
        )
        model = LoadedModel(
            ModelRef(name=self.settings.model_name, version=version, variant=self.variant),
            pyfunc,
            drift_reference(self.client, self.settings, version),
            direct_predict(pyfunc, probe),
        )
        model.predict(probe)  # warm-up, and the output check
        return model

    def refresh(self) -> bool:
        """Load the alias's version if it changed; keep serving the old one if loading fails. An optional
        holder whose alias holds no version serves nothing."""
        try:
            version = self.champion_version()
        except NoVersionError:
            if not self.optional:
                raise
            return self._unload()
        if self._current is not None and self._current.ref.version == version:
            return False
        try:
            model = self.load(version)
        except Exception as exc:
            MODEL_RELOADS.labels("failed").inc()
            if self._current is None and not self.optional:
                raise
            serving = None if self._current is None else self._current.ref.version
            log.error("model_load_failed", variant=self.variant, version=version, serving=serving, error=str(exc))
            return False
        previous = None if self._current is None else self._current.ref.version
        self._current = model
        freeze_long_lived()
        MODEL_RELOADS.labels("loaded").inc()
        self._export(version)
        log.info("model_loaded", variant=self.variant, version=version, previous=previous)
        return True

    def _unload(self) -> bool:
        if self._current is None:
            return False
        log.info("model_unloaded", variant=self.variant, version=self._current.ref.version, alias=self.alias)
        self._current = None
        self._export(None)
        return True

    def _export(self, version: str | None) -> None:
        number = float(version) if version is not None and version.isdigit() else 0
        VARIANT_VERSION.labels(self.variant).set(number)
        if self.variant == "champion":
            MODEL_VERSION.set(number)

    async def watch(self) -> None:
        """Poll the registry for a moved alias until cancelled."""
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except NoVersionError as exc:
                log.warning("champion_missing", variant=self.variant, error=str(exc))
            except Exception as exc:  # the registry may be briefly away; keep serving
                log.error("model_poll_failed", error=str(exc))
