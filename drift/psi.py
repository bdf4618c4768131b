"""Population stability index (PSI) of a feature's values against a reference distribution.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with shares floored at
``SHARE_FLOOR`` so an empty bin does not make it infinite. Numeric features use the training
quantile bins of the model's ``DriftReference`` over the values present: a missing value (optional
fields the model imputes, such as coordinates) is left out, so clients that omit them do not read as
drift. Categorical features use one bin per level (levels unseen in training share one extra bin).
Below 0.1 the input is stable, 0.1-0.2 a moderate shift, at or above ``PSI_SIGNIFICANT`` (0.2) a
significant one.

Training builds the reference (``build_reference``), the workers score against it: both import this
module, neither the other.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from schemas.drift import DriftReference, NumericReference
from schemas.features import PropertyFeatures

SHARE_FLOOR = 1e-4
DEFAULT_BINS = 10
CATEGORICAL_FEATURES: tuple[str, ...] = ("neighborhood",)


def _is_numeric(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(args) == 1 and args[0] in (int, float)
    return False


NUMERIC_FEATURES: tuple[str, ...] = tuple(
    name for name, field in PropertyFeatures.model_fields.items() if _is_numeric(field.annotation)
)


def as_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Floats, with NaN for a missing value (None or NaN)."""
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def numeric_reference(values: np.ndarray, bins: int = DEFAULT_BINS) -> NumericReference:
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return NumericReference(edges=[], frequencies=[0.0], missing=1.0)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return NumericReference(
        edges=edges.tolist(),
        frequencies=(counts / len(present)).tolist(),
        missing=float(1 - len(present) / len(values)),
    )


def build_reference(
    frame: pd.DataFrame,
    bins: int = DEFAULT_BINS,
    numeric: Iterable[str] = NUMERIC_FEATURES,
    categorical: Iterable[str] = CATEGORICAL_FEATURES,
) -> DriftReference:
    """The reference a training run logs: quantile bins of each numeric feature, level shares of each category."""
    return DriftReference(
        rows=len(frame),
        numeric={name: numeric_reference(as_numbers(frame[name]), bins) for name in numeric},
        categorical={
            name: {str(k): float(v) for k, v in frame[name].astype(str).value_counts(normalize=True).items()}
            for name in categorical
        },
    )


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.clip(np.asarray(expected, dtype=float), SHARE_FLOOR, None)
    a = np.clip(np.asarray(actual, dtype=float), SHARE_FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(reference: NumericReference, values: np.ndarray) -> float:
    """PSI of the present values (NaN left out); NaN when none is present."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return float("nan")
    counts = np.bincount(
        np.searchsorted(np.asarray(reference.edges), present, side="left"), minlength=len(reference.edges) + 1
    )
    return psi(np.asarray(reference.frequencies), counts / len(present))


def categorical_psi(reference: Mapping[str, float], values: np.ndarray) -> float:
    levels = list(reference)
    counts = pd.Series(values).astype(str).value_counts()
    seen = np.array([counts.get(level, 0) for level in levels], dtype=float)
    unseen = counts.sum() - seen.sum()
    return psi(np.append(list(reference.values()), 0.0), np.append(seen, unseen) / len(values))
