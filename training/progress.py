"""A training process's progress, kept in the status record under the state folder.

``python -m training`` creates one ``Progress`` and ``train`` moves it from stage to stage, so
``make run`` and the dashboard can show how far the (background) training is. ``train``
called without one (tests, benchmarks) records nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from infra.training_status import write_status
from schemas.messages import utc_now
from schemas.training import STARTING, TrainingMode, TrainingStatus

log = structlog.get_logger(__name__)


class Progress:
    def __init__(self, path: Path | None, mode: TrainingMode) -> None:
        """``path=None``: keep the stages in memory only."""
        now = utc_now()
        self.path = path
        self.status = TrainingStatus(
            mode=mode, state="running", stage=STARTING, pid=os.getpid(), started_at=now, updated_at=now
        )
        self._save()

    @classmethod
    def none(cls) -> Progress:
        return cls(None, "full")

    def plan(self, steps: int) -> None:
        """How many stages the run has, once the data (and so the year-ahead checks) are known."""
        self._update(steps=max(steps, self.status.step + 1))

    def stage(self, name: str) -> None:
        """A new stage begins; the one before it is done."""
        step = self.status.step + (0 if self.status.stage == STARTING else 1)
        self._update(stage=name, step=min(step, self.status.steps - 1))
        if self.path is not None:
            log.info("training_stage", stage=name, step=self.status.step, steps=self.status.steps)

    def finished(self, version: str, promoted: bool, cv_rmse: float, alias: str | None = None) -> None:
        detail = f"version {version} registered, cv_rmse {cv_rmse:.4f}, promoted={promoted}, alias={alias}"
        self._end(
            "finished", detail, version=version, promoted=promoted, alias=alias, cv_rmse=cv_rmse, step=self.status.steps
        )

    def failed(self, error: BaseException) -> None:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            self._end("stopped", "stopped before it finished")
        else:
            self._end("failed", f"{type(error).__name__}: {error}")

    def _end(self, state: str, detail: str, **fields: object) -> None:
        now = utc_now()
        self._update(state=state, detail=detail, finished_at=now, pid=None, **fields)

    def _update(self, **fields: object) -> None:
        self.status = self.status.model_copy(update=fields | {"updated_at": utc_now()})
        self._save()

    def _save(self) -> None:
        if self.path is not None:
            write_status(self.path, TrainingStatus.model_validate(self.status.model_dump()))
