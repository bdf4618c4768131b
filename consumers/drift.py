"""Input drift: recent requests against the training data, as a population stability index per feature.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with shares floored at
``SHARE_FLOOR`` so an empty bin does not make it infinite. Numeric features use the training
quantile bins of the model's ``DriftReference`` over the values present: a missing value (optional
fields the model imputes, such as coordinates) is left out, so clients that omit them do not read as
drift. Categorical features use one bin per level (levels unseen in training share one extra bin).
Below 0.1 the input is stable, 0.1-0.2 a moderate shift, at or above ``PSI_SIGNIFICANT`` (0.2) a
significant one.
"""

from __future__ import annotations

import collections
import threading
import types
import typing
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from consumers.metrics import DRIFT_WINDOW_ROWS, FEATURE_PSI
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


ABSORB_EVERY = 64


class DriftMonitor:
    """A sliding window of the last ``window`` requests' features; PSI of the window against a reference.

    ``observe`` runs on the worker's event loop after every batch, and writing ~40 columns into the
    window per batch cost 7 % of the worker's CPU there. So it queues the batch's frame, and every
    ``ABSORB_EVERY`` frames (or when the window is read) the queued rows enter it in one update: a
    few milliseconds, not a pause (absorbing only every few seconds made one of 100+ ms).
    The lock keeps reads from a thread safe.
    """

    def __init__(self, window: int, min_rows: int = 200) -> None:
        self.window = window
        self.min_rows = min(min_rows, window)
        self._numeric = {name: np.full(window, np.nan) for name in NUMERIC_FEATURES}
        self._categorical = {name: np.full(window, "", dtype=object) for name in CATEGORICAL_FEATURES}
        self._cursor = 0
        self._filled = 0
        self._queued: collections.deque[pd.DataFrame] = collections.deque()
        self._queued_rows = 0
        self._lock = threading.Lock()

    @property
    def rows(self) -> int:
        with self._lock:
            self._absorb()
            return self._filled

    def observe(self, frame: pd.DataFrame) -> None:
        """Add a batch's feature rows (``FEATURE_NAMES`` columns); the oldest rows fall out."""
        with self._lock:
            self._queued.append(frame)
            self._queued_rows += len(frame)
            while self._queued_rows - len(self._queued[0]) >= self.window:
                self._queued_rows -= len(self._queued.popleft())
            if len(self._queued) >= ABSORB_EVERY:
                self._absorb()

    def _absorb(self) -> None:
        """Move the queued rows into the window (the caller holds the lock)."""
        if not self._queued:
            return
        frame = pd.concat(self._queued, ignore_index=True) if len(self._queued) > 1 else self._queued[0]
        self._queued.clear()
        self._queued_rows = 0
        frame = frame.iloc[-self.window :]
        slots = (self._cursor + np.arange(len(frame))) % self.window
        for name, buffer in self._numeric.items():
            buffer[slots] = as_numbers(frame[name])
        for name, labels in self._categorical.items():
            labels[slots] = frame[name].astype(str).to_numpy()
        self._cursor = (self._cursor + len(frame)) % self.window
        self._filled = min(self.window, self._filled + len(frame))

    def compute(self, reference: DriftReference) -> dict[str, float]:
        """PSI per feature the reference knows, once the window holds ``min_rows`` rows (with a value)."""
        with self._lock:
            self._absorb()
            if self._filled < self.min_rows:
                return {}
            numeric = {n: b[: self._filled].copy() for n, b in self._numeric.items() if n in reference.numeric}
            labels = {n: b[: self._filled].copy() for n, b in self._categorical.items() if n in reference.categorical}
        scores = {
            name: numeric_psi(reference.numeric[name], values)
            for name, values in numeric.items()
            if np.count_nonzero(~np.isnan(values)) >= self.min_rows
        }
        scores |= {name: categorical_psi(reference.categorical[name], values) for name, values in labels.items()}
        return scores

    def export(self, reference: DriftReference | None) -> dict[str, float]:
        """Set ``valuestream_worker_feature_psi{feature}``; returns what it set."""
        DRIFT_WINDOW_ROWS.set(self.rows)
        if reference is None:
            return {}
        scores = self.compute(reference)
        for name, value in scores.items():
            FEATURE_PSI.labels(name).set(value)
        return scores
