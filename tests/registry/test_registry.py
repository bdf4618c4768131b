"""The registry's pure parts: model URIs by version or alias, the promotion tag, a reader on a store not yet created."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.settings import Settings
from registry.client import client_for
from registry.errors import NoVersionError, RegistryError
from registry.loading import model_uri
from registry.tags import VersionTag, promoted_at, tag_value


def test_a_model_is_addressed_by_version_or_by_alias() -> None:
    settings = Settings(model_name="price", model_alias="champion")
    assert model_uri(settings) == "models:/price@champion" == settings.champion_uri
    assert model_uri(settings, alias="challenger") == "models:/price@challenger"
    assert model_uri(settings, version="7") == "models:/price/7"


def test_the_promotion_time_is_read_back_from_its_tag() -> None:
    when = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert promoted_at({VersionTag.PROMOTED_AT: when.isoformat()}) == when
    assert promoted_at({VersionTag.PROMOTED_AT: "yesterday"}) is None
    assert promoted_at({}) is None
    assert promoted_at(None) is None
    assert tag_value(0.08439987) == "0.084400"


def test_a_reader_does_not_create_a_missing_store(tmp_path: Path) -> None:
    database = tmp_path / "mlflow" / "mlflow.db"
    with pytest.raises(NoVersionError, match="no MLflow database"):
        client_for(f"sqlite:///{database}", create=False)
    assert not database.exists()
    assert issubclass(NoVersionError, RegistryError)
