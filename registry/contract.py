"""The input contract a version serves: a hash of ``PropertyFeatures`` (tagged on each version) and the signature.

A champion trained before a field was added or changed would fail on the new columns, so a version
whose tag differs from this code's contract counts as no champion at all.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

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


def _nullable_type(name: str) -> Any:
    """The declared type of a field a request may leave empty: MLflow checks a typed column in one
    vectorised step but an ``Any`` column value by value (10,000 rows: ~12 ms a column). Text and
    coordinates take their type (a gap is None or NaN); ``year_remod_add`` stays ``Any``, because a
    complete column of years is int64 and MLflow refuses it as double, while one with gaps is
    float or object and MLflow refuses it as long."""
    from mlflow.types.schema import AnyType, DataType

    annotation = next(arg for arg in get_args(PropertyFeatures.model_fields[name].annotation) if arg is not type(None))
    if annotation is float:
        return DataType.double
    if get_origin(annotation) is Literal or annotation is str:
        return DataType.string
    return AnyType()  # type: ignore[no-untyped-call]


def signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The inferred signature, except that the fields a request may leave empty are optional
    (``_nullable_type``: ``year_remod_add`` accepts ints, floats or None).

    It declares the ``detail`` parameter (``full`` or ``summary``, see ``training.serving``), so
    ``PyFuncModel.predict(frame, params={"detail": "summary"})`` reaches the model."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(example, output, params={"detail": "full"})
    specs = [
        ColSpec(_nullable_type(spec.name), spec.name, required=False) if spec.name in NULLABLE else spec
        for spec in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(specs), outputs=inferred.outputs, params=inferred.params)
