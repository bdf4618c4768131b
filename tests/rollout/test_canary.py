"""Canary mode against the real stack: a sticky share of requests answered by the challenger, every
result naming its variant and version (Redis, results topic, downloads), the challenger's answers
recalibrated by its own version's state, price differences and stored answers from the shadow scorer
(the variant that did not answer scores each request), sales fed back counted for the variant that
answered and the one that shadowed; promotion compares both on the same sales and moves the workers
to the challenger, rollback moves them back."""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from typing import Any

import pytest
from scipy.stats import binom

from consumers.variants import in_share
from infra.settings import Settings
from registry.rollout import events, version_of
from registry.tags import VersionTag
from schemas import PredictionResult
from schemas.rollout import ShadowAnswer
from tests.api.conftest import HOUSE, poll
from tests.conftest import StartShadow, StartWorker
from tests.consumers.conftest import read_topic, wait_until
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


def test_feedback_counts_for_both_variants_then_promote_on_the_same_sales_and_roll_back(
    base_settings: Settings,
    sources: Sources,
    start_worker: StartWorker,
    start_shadow: StartShadow,
    api_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lineup, champion, challenger = lineup_for(
        base_settings, sources, rollout_mode="canary", canary_share=0.5, shadow_share=1.0, promotion_min_sales=24
    )
    settings = lineup.settings
    start_worker(settings)
    answers = lineup.answers(120, "fb")
    api = api_for(settings)
    # Sales fed back before the shadow scorer ran value one version each: the guard cannot compare on them.
    feed_back(api, answers[:40], "champion", FACTOR, 6)
    code, output = cli(monkeypatch, settings, "promote")
    assert code == 1, output
    assert "0 sales fed back for requests both versions valued" in output

    # With the other variant's answers stored, each later sale values both versions. The challenger is
    # 20 % above the champion, and the sales are at the challenger's prices: it hits them, the champion
    # misses them by a sixth, whichever answered.
    start_shadow(settings)
    client = lineup.view.client
    wait_until(
        lambda: client.exists(*(lineup.view.keys.shadow(r.request_id) for r in answers)) == len(answers),
        60,
        "the other variant's answers stored",
    )
    fresh = answers[40:]
    feed_back(api, fresh, "champion", FACTOR, 12)
    feed_back(api, fresh, "challenger", 1.0, 12)
    rollout = api.get("/api/v1/model").json()["rollout"]
    figures = {v["variant"]: v["accuracy"] for v in rollout["variants"]}
    assert (figures["champion"]["version"], figures["challenger"]["version"]) == (champion, challenger)
    # Each version counts the sales of the requests it answered and of those it shadowed.
    assert figures["champion"]["sales"] == 6 + 24
    assert figures["challenger"]["sales"] == 24
    paired = rollout["paired"]
    assert (paired["champion"]["version"], paired["challenger"]["version"]) == (champion, challenger)
    assert paired["champion"]["sales"] == paired["challenger"]["sales"] == 24
    assert paired["challenger"]["median_abs_pct_error"] == pytest.approx(0.0, abs=1e-6)
    assert paired["champion"]["median_abs_pct_error"] == pytest.approx((1 - 1 / FACTOR) * 100, abs=1e-3)

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


def test_the_shadow_scorer_gives_price_differences_in_canary_mode_too(
    base_settings: Settings, sources: Sources, start_worker: StartWorker, start_shadow: StartShadow, api_for: Any
) -> None:
    lineup, champion, challenger = lineup_for(
        base_settings, sources, rollout_mode="canary", canary_share=0.5, shadow_share=1.0
    )
    settings = lineup.settings
    start_worker(settings)
    start_shadow(settings)
    answers = lineup.answers(200, "both")
    assert {r.model.variant for r in answers if r.model} == {"champion", "challenger"}
    api = api_for(settings)

    def differences() -> dict[str, Any]:
        found: dict[str, Any] = api.get("/api/v1/model").json()["rollout"]["differences"] or {}
        return found

    # Each request scored by the variant that did not answer it: the challenger is 20 % above either way.
    wait_until(lambda: differences().get("requests", 0) >= 200, 60, "price differences recorded")
    assert differences()["requests"] == 200
    assert differences()["median_abs_pct_diff"] == pytest.approx((FACTOR - 1) * 100, abs=1e-3)
    assert (differences()["champion_version"], differences()["challenger_version"]) == (champion, challenger)
    # The other variant's answer is stored beside each served one, so a sale fed back values both.
    raws = lineup.view.client.mget([lineup.view.keys.shadow(r.request_id) for r in answers])
    for answer, raw in zip(answers, raws, strict=True):
        assert raw is not None
        assert answer.model is not None
        other = {"champion": ("challenger", challenger), "challenger": ("champion", champion)}[answer.model.variant]
        shadow = ShadowAnswer.model_validate_json(raw)
        assert (shadow.model.variant, shadow.model.version) == other


RATE = 0.5


def test_the_challengers_canary_answers_get_their_own_versions_recalibration(
    base_settings: Settings, sources: Sources, start_worker: StartWorker, api_for: Any
) -> None:
    lineup, _champion, challenger = lineup_for(
        base_settings,
        sources,
        rollout_mode="canary",
        canary_share=1.0,
        calibration_learning_rate=RATE,
        calibration_poll_seconds=0.2,
    )
    settings = lineup.settings
    start_worker(settings)
    [before] = lineup.answers(1, "recal-before")
    assert before.model is not None
    assert before.model.version == challenger
    assert before.price is not None
    assert before.segment is not None
    api = api_for(settings)
    # A sale at three times the challenger's price misses its intervals: its version's state widens them.
    fed = api.post("/api/v1/feedback", json={"request_id": before.request_id, "sale_price": before.price * 3})
    assert fed.status_code == 201, fed.text

    def radius(result: PredictionResult, level: float) -> float:
        assert result.price is not None
        return math.log(next(i for i in result.intervals if i.level == level).upper / result.price)

    widened: list[PredictionResult] = []

    def recalibrated() -> bool:  # the worker reads the state within its poll
        [result] = lineup.answers(1, f"recal-{uuid.uuid4().hex[:6]}")
        widened.append(result)
        return radius(result, 0.9) > radius(before, 0.9) * 1.01

    wait_until(recalibrated, 30, "the challenger's answers recalibrated")
    after = widened[-1]
    assert after.model is not None
    assert after.model.version == challenger
    assert after.price == pytest.approx(before.price)
    assert radius(after, 0.9) == pytest.approx(radius(before, 0.9) * math.exp(3 * RATE * 0.9), rel=1e-6)
