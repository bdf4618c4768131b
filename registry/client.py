"""An MLflow client on the settings' store.

Readers ``connect``; the training run ``configure``s (it also creates the store's folders and the
experiment). Both point the ``mlflow`` module at the same store, which pyfunc and artifact loads use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from infra.settings import Settings
from registry.errors import NoVersionError

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "valuestream-price"


def client_for(tracking_uri: str, *, fail_fast: bool = False, create: bool = True) -> MlflowClient:
    """A client on ``tracking_uri`` (also the registry URI).

    ``fail_fast``: an MLflow server that does not answer fails in seconds, instead of MLflow's default
    minutes of HTTP retries (for pages a person is waiting on). ``create=False``: a local sqlite store
    that does not exist yet is ``NoVersionError``, where MLflow would create an empty database.
    """
    local = tracking_uri.removeprefix("sqlite:///")
    if not create and local != tracking_uri and not Path(local).exists():
        raise NoVersionError(f"no MLflow database at {local} yet")
    if fail_fast:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def connect(settings: Settings) -> MlflowClient:
    """A reader's client on the settings' store."""
    return client_for(settings.tracking_uri)


def configure(settings: Settings) -> MlflowClient:
    """The training run's client: the local store's folders and the experiment exist, and is active."""
    import mlflow

    (settings.state_path / "mlflow").mkdir(parents=True, exist_ok=True)
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    client = client_for(settings.tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return client
