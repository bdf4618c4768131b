"""Canary mode against the real stack: a sticky share of requests answered by the challenger, every
result naming its variant and version (Redis, results topic, downloads), sales fed back counted for
the variant that answered; promotion moves the workers to the challenger, rollback moves them back."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from scipy.stats import binom

from consumers.variants import in_share
from infra.settings import Settings
from registry.rollout import events, version_of
from registry.tags import VersionTag
from schemas import PredictionResult
from tests.api.conftest import HOUSE, poll
from tests.conftest import StartWorker
from tests.consumers.conftest import read_topic
from tests.rollout.conftest import FACTOR, Lineup, Sources, lineup_for
from tests.rollout.test_shadow import cli

pytestmark = pytest.mark.integration


def variants(answers: list[PredictionResult]) -> dict[str, tuple[str, str]]:
    return {r.request_id: (r.model.variant, r.model.version) for r in answers if r.model is not None}


def test_the_canary_share_is_sticky_and_within_binomial_bounds(
    base_settings: Settings, sources: Sources, start_worker: StartWorker, api_for: Any
) -> None:
    share, count = 0.25, 3_000
    lineup, champion, challenger = lineup_for(base_settings, sources, rollout_mode="canary", canary_share=share)
    settings = lineup.settings
    start_worker(settings)
    answers = lineup.answers(count, "canary")
    served = variants(answers)
    assert len(served) == count
    by_challenger = sum(variant == "challenger" for variant, _ in served.values())
    # Outside these bounds with probability 2e-6 for a fair draw of the configured share.
    low, high = binom.ppf(1e-6, count, share), binom.ppf(1 - 1e-6, count, share)
    assert low <= by_challenger <= high
    for request_id, (variant, version) in served.items():
        chosen = in_share(request_id, "canary", share)
        assert (variant, version) == (("challenger", challenger) if chosen else ("champion", champion))

    # The results topic names the same variant and version for every request.
    records = read_topic(settings, settings.results_topic, count)
    on_topic = {}
    for record in records:
        body = json.loads(record.value)
        on_topic[body["request_id"]] = (body["model"]["variant"], body["model"]["version"])
    assert on_topic == served

    # So does a job's download.
    api = api_for(settings)
    job = api.post("/api/v1/batch", json={"houses": [HOUSE | {"gr_liv_area": 900 + i} for i in range(40)]}).json()
    assert poll(api, job["status_url"])["state"] == "finished"
    rows = list(csv.DictReader(io.StringIO(api.get(job["results_url"]).text)))
    assert len(rows) == 40
    for row in rows:
        chosen = in_share(row["request_id"], "canary", share)
        assert (row["model_variant"], row["model_version"]) == (
            ("challenger", challenger) if chosen else ("champion", champion)
        )


def feed_back(api: Any, answers: list[PredictionResult], variant: str, ratio: float, count: int) -> None:
    """Sale prices for ``count`` of a variant's answers, at ``ratio`` x the answered price."""
    picked = [r for r in answers if r.model is not None and r.model.variant == variant][:count]
    assert len(picked) == count
    for answer in picked:
        assert answer.price is not None
        fed = api.post("/api/v1/feedback", json={"request_id": answer.request_id, "sale_price": answer.price * ratio})
        assert fed.status_code == 201, fed.text
        assert fed.json()["variant"] == variant


def served_versions(lineup: Lineup, prefix: str) -> set[tuple[str, str]]:
    return {(r.model.variant, r.model.version) for r in lineup.answers(30, prefix) if r.model is not None}


def test_feedback_counts_for_the_variant_that_answered_then_promote_and_roll_back(
    base_settings: Settings,
    sources: Sources,
    start_worker: StartWorker,
    api_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lineup, champion, challenger = lineup_for(
        base_settings, sources, rollout_mode="canary", canary_share=0.5, promotion_min_sales=12
    )
    settings = lineup.settings
    start_worker(settings)
    answers = lineup.answers(120, "fb")
    api = api_for(settings)
    # The champion's answers miss their sales by 20 %, the challenger's hit them.
    feed_back(api, answers, "champion", FACTOR, 12)
    feed_back(api, answers, "challenger", 1.0, 12)
    figures = {v["variant"]: v["accuracy"] for v in api.get("/api/v1/model").json()["rollout"]["variants"]}
    assert (figures["champion"]["version"], figures["challenger"]["version"]) == (champion, challenger)
    assert figures["champion"]["sales"] == figures["challenger"]["sales"] == 12
    assert figures["challenger"]["median_abs_pct_error"] == pytest.approx(0.0, abs=1e-6)
    assert figures["champion"]["median_abs_pct_error"] > 10

    code, output = cli(monkeypatch, settings, "promote")
    assert code == 0, output
    registry = lineup.client
    assert version_of(registry, settings, settings.model_alias) == challenger
    assert version_of(registry, settings, settings.challenger_alias) is None
    tags = registry.get_model_version(settings.model_name, challenger).tags
    assert tags[VersionTag.PREVIOUS_CHAMPION] == champion
    # Within a poll period the worker serves the new champion alone.
    assert_eventually(lineup, "promoted", {("champion", challenger)})

    code, output = cli(monkeypatch, settings, "rollback", "--reason", "test")
    assert code == 0, output
    assert version_of(registry, settings, settings.model_alias) == champion
    assert_eventually(lineup, "rolled-back", {("champion", champion)})
    assert [(e.action, e.from_version, e.to_version) for e in events(registry, settings)] == [
        ("rollback", challenger, champion),
        ("promote", champion, challenger),
    ]


def assert_eventually(lineup: Lineup, prefix: str, expected: set[tuple[str, str]], rounds: int = 30) -> None:
    """Batches of new requests until one is served by ``expected`` alone (the worker polls every second)."""
    seen = set()
    for round_ in range(rounds):
        seen = served_versions(lineup, f"{prefix}-{round_}")
        if seen == expected:
            return
    raise AssertionError(f"still served by {seen}, expected {expected}")
