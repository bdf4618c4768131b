"""Which alias a new winner takes: the challenger's once a fully trained champion serves (configurable)."""

from __future__ import annotations

import uuid

import pytest

from infra.settings import Settings
from registry.client import configure
from registry.contract import feature_contract
from registry.promotion import promote, winner_alias
from registry.tags import VersionTag
from tests.rollout.conftest import Sources

pytestmark = pytest.mark.integration


def test_a_winner_becomes_the_challenger_only_beside_a_fully_trained_champion(
    base_settings: Settings, sources: Sources
) -> None:
    settings = base_settings.model_copy(update={"model_name": f"winner-{uuid.uuid4().hex[:6]}"})
    client = configure(settings)
    client.create_registered_model(settings.model_name)
    assert winner_alias(settings) == "champion"  # nothing serves yet

    version = str(client.create_model_version(settings.model_name, sources.champion).version)
    client.set_model_version_tag(settings.model_name, version, VersionTag.FEATURE_CONTRACT, feature_contract())
    client.set_model_version_tag(settings.model_name, version, VersionTag.TRAINING_MODE, "quick")
    promote(settings, version)
    assert winner_alias(settings) == "champion"  # a quick champion is a placeholder, replaced directly

    client.set_model_version_tag(settings.model_name, version, VersionTag.TRAINING_MODE, "full")
    assert winner_alias(settings) == "challenger"
    assert winner_alias(settings.model_copy(update={"train_registers_challenger": False})) == "champion"
