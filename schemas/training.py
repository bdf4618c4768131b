"""The progress record a training process keeps under the state folder (``training/status.json``).

Written by ``python -m training`` as it goes; read by ``make run`` (the terminal) and by the
dashboard's model page, so both can say which training is running, how far it is, and what it
registered. One record: the latest training process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TrainingMode = Literal["quick", "full"]
TrainingState = Literal["running", "finished", "failed", "stopped"]
STARTING = "starting"
"""The stage of a process that has not begun its first real stage (imports, registry check)."""


class TrainingStatus(BaseModel):
    mode: TrainingMode = Field(
        description="'quick': the minute-long model make run serves first; 'full': every candidate."
    )
    state: TrainingState
    stage: str = Field(default="", description="What the process is doing now, e.g. 'year-ahead check 2008'.")
    step: int = Field(default=0, ge=0, description="Stages done so far.")
    steps: int = Field(default=1, ge=1, description="Stages in all.")
    pid: int | None = Field(default=None, description="The training process, while it runs.")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    version: str | None = Field(default=None, description="The model version it registered.")
    promoted: bool | None = Field(default=None, description="Whether that version took the serving alias.")
    alias: str | None = Field(default=None, description="The alias it took: the serving one, the challenger's, none.")
    cv_rmse: float | None = None
    detail: str = Field(default="", description="Why it failed or stopped, or what it registered.")

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.steps)

    def summary(self) -> str:
        """One line for a terminal or a caption."""
        if self.state == "running":
            counted = f" ({self.step + 1}/{self.steps})" if self.steps > 1 else ""
            return f"{self.mode} training: {self.stage}{counted}"
        if self.state == "finished":
            if self.promoted:
                outcome = "promoted to champion"
            elif self.alias:
                outcome = f"registered as {self.alias} (it meets live traffic before `python -m training promote`)"
            else:
                outcome = "not promoted (the champion scores better)"
            return f"{self.mode} training finished: version {self.version}, {outcome}"
        return f"{self.mode} training {self.state}: {self.detail}"
