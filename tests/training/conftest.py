from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.pyfunc import PyFuncModel

from infra.settings import Settings
from training.data import Dataset, load
from training.pipeline import TrainingOutcome, train


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return load()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(state_dir=tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
def trained(settings: Settings) -> TrainingOutcome:
    return train(settings, quick=True, data_path=None, use_tf=False)


@pytest.fixture(scope="session")
def champion(settings: Settings, trained: TrainingOutcome) -> PyFuncModel:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model: PyFuncModel = mlflow.pyfunc.load_model(settings.champion_uri)
    return model


@pytest.fixture
def raw_csv(tmp_path: Path) -> Path:
    from training.data import read_raw

    path = tmp_path / "ames_small.csv"
    read_raw().sample(700, random_state=1).to_csv(path, index=False)
    return path
