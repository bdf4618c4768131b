"""Reading and writing the training progress record (``schemas.training.TrainingStatus``).

The record lives at ``<state folder>/training/status.json``; it is replaced atomically, so a
reader never sees half of it. Imports neither MLflow nor the training code.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from infra.settings import Settings
from schemas.training import TrainingStatus


def status_path(settings: Settings) -> Path:
    return settings.state_path / "training" / "status.json"


def write_status(path: Path, status: TrainingStatus) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(status.model_dump_json(indent=2))
    partial.replace(path)


def read_status(path: Path) -> TrainingStatus | None:
    """The latest record, or None when there is none (or it cannot be read)."""
    try:
        return TrainingStatus.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None
