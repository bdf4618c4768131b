"""Reference distribution of the training data, logged with each model for input-drift checks.

The training pipeline logs one ``DriftReference`` as the JSON artifact ``DRIFT_REFERENCE_ARTIFACT``
of the run that registered the model; workers read it when they load that version and compare
recent requests with it (population stability index, PSI).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

DRIFT_REFERENCE_ARTIFACT = "drift_reference.json"
PSI_SIGNIFICANT = 0.2
"""PSI at or above this is a significant shift; 0.1-0.2 is moderate, below 0.1 stable."""


class NumericReference(BaseModel):
    """Bins of one numeric feature: ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""

    edges: list[float] = Field(description="Inner cut points, increasing (training-data quantiles).")
    frequencies: list[float] = Field(
        description="Share of the training rows with a value that fall in each bin; len(edges) + 1 values."
    )
    missing: float = Field(default=0.0, ge=0, le=1, description="Share of training rows with no value (reported).")

    @model_validator(mode="after")
    def _shape(self) -> NumericReference:
        if len(self.frequencies) != len(self.edges) + 1:
            raise ValueError("frequencies must have one more value than edges")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must increase strictly")
        return self


class DriftReference(BaseModel):
    rows: int = Field(ge=1, description="Training rows the frequencies come from.")
    numeric: dict[str, NumericReference] = Field(description="Per numeric feature.")
    categorical: dict[str, dict[str, float]] = Field(description="Per categorical feature: level -> share of rows.")
