"""Registered model versions as readers see them: the serving one (``GET /api/v1/model``) and the dashboard's list."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from schemas.calibration import CalibrationPublic
from schemas.ratio_study import RatioStudy
from schemas.rollout import RolloutPublic


class ModelPublic(BaseModel):
    name: str = Field(examples=["valuestream-price"])
    alias: str = Field(examples=["champion"])
    version: str = Field(examples=["3"])
    run_id: str | None = Field(default=None, description="MLflow run that trained it.")
    registered_at: datetime | None = Field(default=None, description="When this version was registered.")
    promoted_at: datetime | None = Field(
        default=None, description="When the alias moved to it (version tag `promoted_at`, when training sets it)."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Training run metrics: CV (arm's-length and `kaggle_cv_rmse`), the nested test, the ratio study.",
    )
    ratio_study: RatioStudy | None = Field(
        default=None,
        description="COD, PRD and PRB by segment with IAAO verdicts, and error and coverage by neighbourhood "
        "group, of the training run's year-ahead valuations (none for versions trained before it was logged).",
    )
    live_ratio_study: RatioStudy | None = Field(
        default=None,
        description="The same study from the sale prices fed back (`POST /feedback`) for this version's valuations "
        "(the newest 1,000; none before the first feedback).",
    )
    calibration: CalibrationPublic | None = Field(
        default=None, description="The intervals' online recalibration from sale prices fed back, per segment."
    )
    rollout: RolloutPublic | None = Field(
        default=None,
        description="The challenger beside the champion (shadow or canary): per-variant latency and accuracy on "
        "sales fed back, price differences on the same requests, promotions and rollbacks.",
    )


class VersionInfo(BaseModel):
    """One registered version as the dashboard's model page shows it."""

    version: str
    aliases: list[str]
    run_id: str | None
    registered_at: datetime
    promoted_at: str | None = Field(description="The version tag `promoted_at`, as tagged (None: never promoted).")
    metrics: dict[str, float]
    params: dict[str, str]
