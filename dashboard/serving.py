"""What is serving now and how the latest training is going: worker heartbeats and the training record.

The heartbeats are the workers' own word (in Redis) on the version they have loaded, which trails
the registry's alias by up to ``VALUESTREAM_MODEL_POLL_SECONDS`` after a promotion. The training
record is the file the training process keeps under the state folder (``schemas.training``).
"""

from __future__ import annotations

from dashboard.context import run, state
from infra.settings import Settings
from infra.training_status import read_status, status_path
from schemas.training import TrainingStatus


def served_versions() -> dict[str, list[str]]:
    """Model version -> the workers serving it, from their live heartbeats."""
    served: dict[str, list[str]] = {}
    for beat in run(state().heartbeats.live()):
        if beat.model is not None:
            served.setdefault(beat.model.version, []).append(beat.name)
    return served


def latest_training(settings: Settings) -> TrainingStatus | None:
    return read_status(status_path(settings))


def training_line(status: TrainingStatus) -> str:
    """The progress bar's text, or the caption of a training that has ended."""
    if status.state == "running":
        return (
            f"{status.mode} training: {status.stage} (stage {status.step + 1} of {status.steps}), "
            f"started {status.started_at:%H:%M} UTC"
        )
    when = f", {status.finished_at:%Y-%m-%d %H:%M} UTC" if status.finished_at else ""
    return f"Latest training: {status.summary()}{when}"
