from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.pyfunc import PyFuncModel

from dataset.sales import Dataset, load
from infra.settings import Settings
from registry.loading import load_pyfunc
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
    return load_pyfunc(settings)


@pytest.fixture
def raw_csv(tmp_path: Path) -> Path:
    from dataset.sales import read_raw

    path = tmp_path / "ames_small.csv"
    read_raw().sample(700, random_state=1).to_csv(path, index=False)
    return path
