"""Which rows and which protocol a version's figures come from: ``fingerprint``, tagged on every
version so the registry compares figures only under one protocol (``registry.protocol``)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from dataset.sales import Dataset, SalesFilter


def rows_digest(data: Dataset) -> str:
    """A hash of the exact rows: every feature and the sale price, in order."""
    hashed = pd.util.hash_pandas_object(data.features, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(np.ascontiguousarray(data.price, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def fingerprint(data: Dataset, sales: SalesFilter, n_folds: int, n_repeats: int, seed: int) -> str:
    """``<filter>:<hash>`` of the sales filter, the CV scheme and the rows (see the module docstring)."""
    described = {
        "filter": sales.name,
        "conditions": sorted(sales.sale_conditions) if sales.sale_conditions is not None else "all",
        "max_living_area": sales.max_living_area,
        "cv": [n_folds, n_repeats, seed],
        "rows": rows_digest(data),
    }
    return f"{sales.name}:{hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]}"
