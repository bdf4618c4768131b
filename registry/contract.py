"""The input contract a version serves: a hash of ``PropertyFeatures`` (tagged on each version) and the signature.

A champion trained before a field was added or changed would fail on the new columns, so a version
whose tag differs from this code's contract counts as no champion at all.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import TYPE_CHECKING, get_args

import pandas as pd
import structlog

from registry.tags import VersionTag
from schemas.features import PropertyFeatures

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models import ModelSignature

log = structlog.get_logger(__name__)

NULLABLE = frozenset(
    name for name, field in PropertyFeatures.model_fields.items() if type(None) in get_args(field.annotation)
)
"""The fields a request may leave empty (``year_remod_add``, coordinates, ``overall_qual``)."""


def feature_contract() -> str:
    """A short hash of the input contract the encoder depends on: field names, types and levels."""
    fields = {name: str(field.annotation) for name, field in PropertyFeatures.model_fields.items()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def fits_contract(version: ModelVersion) -> bool:
    """Whether the version was trained for this code's feature contract (a warning says when not)."""
    tagged = (version.tags or {}).get(VersionTag.FEATURE_CONTRACT)
    if tagged == feature_contract():
        return True
    log.warning("version_for_another_contract", version=version.version, contract=tagged, expected=feature_contract())
    return False


def signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The inferred signature, except that the nullable fields accept ints, floats or None.

    It declares the ``detail`` parameter (``full`` or ``summary``, see ``training.serving``), so
    ``PyFuncModel.predict(frame, params={"detail": "summary"})`` reaches the model."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(example, output, params={"detail": "full"})
    anything = AnyType()  # type: ignore[no-untyped-call]
    specs = [
        ColSpec(anything, spec.name, required=False) if spec.name in NULLABLE else spec
        for spec in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(specs), outputs=inferred.outputs, params=inferred.params)
