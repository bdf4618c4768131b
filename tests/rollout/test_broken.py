"""A challenger that cannot load is refused, by the worker and by the shadow scorer: with the whole canary
share it still never answers, and the shadow scores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from tests.conftest import StartShadow, StartWorker
from tests.consumers.conftest import wait_until
from tests.rollout.conftest import Sources, lineup_for

pytestmark = pytest.mark.integration


def test_a_broken_challenger_never_affects_the_champions_answers(
    base_settings: Settings, sources: Sources, start_worker: StartWorker, start_shadow: StartShadow, tmp_path: Path
) -> None:
    lineup, champion, scaled = lineup_for(base_settings, sources, rollout_mode="canary", canary_share=1.0)
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")
    lineup.alias(lineup.settings.challenger_alias, lineup.version(str(broken)))
    worker = start_worker(lineup.settings)
    shadow = start_shadow(lineup.settings)
    assert "model_load_failed" in worker.log.read_text()
    assert "model_load_failed" in shadow.log.read_text()
    answers = lineup.answers(100, "broken")
    assert {(r.status, r.model.variant, r.model.version) for r in answers if r.model} == {
        ("done", "champion", champion)
    }
    assert shadow.process.poll() is None

    # The same worker gives a loadable challenger the whole share: the routing was on all along.
    lineup.alias(lineup.settings.challenger_alias, scaled)
    wait_until(lambda: f'"version": "{scaled}"' in worker.log.read_text(), 60, "challenger loaded")
    answers = lineup.answers(50, "fixed")
    assert {(r.model.variant, r.model.version) for r in answers if r.model} == {("challenger", scaled)}
