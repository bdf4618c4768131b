"""Shadow mode against the real stack: the shadow scorer, a process of its own beside the worker, scores
every request with the challenger; its answers are stored by request and erased with it, never returned;
its figures reach GET /model, the sales fed back recalibrate its own intervals, and the promotion guard
refuses it when those sales say it is worse."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import pytest
from typer.testing import CliRunner

from consumers.app import challenger_holder
from consumers.model import ModelHolder
from consumers.scoring import score
from consumers.variants import VariantRouter
from infra.priority import AUTOGROUP
from infra.recalibration import missed_by, term
from infra.settings import Settings, get_settings, to_env
from registry.rollout import version_of
from schemas import INTERVAL_LEVELS, AnswerHead, PredictionResult
from schemas.calibration import GROUPINGS
from schemas.rollout import ShadowAnswer
from tests.conftest import StartShadow, StartWorker
from tests.consumers.conftest import requests_for, wait_until
from tests.rollout.conftest import FACTOR, Sources, lineup_for

pytestmark = pytest.mark.integration


def heads(results: list[PredictionResult]) -> list[AnswerHead]:
    """The stored answers as the shadow scorer reads them."""
    return [AnswerHead.model_validate(r.model_dump()) for r in results]


def cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> tuple[int, str]:
    """``python -m training ARGS`` in-process, on the test's settings."""
    from training.__main__ import app

    for name, value in to_env(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_the_shadow_never_changes_an_answer_and_a_worse_challenger_is_not_promoted(
    base_settings: Settings,
    sources: Sources,
    start_worker: StartWorker,
    start_shadow: StartShadow,
    api_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lineup, champion, challenger = lineup_for(
        base_settings,
        sources,
        rollout_mode="shadow",
        shadow_share=1.0,
        promotion_min_sales=30,
        calibration_poll_seconds=1.0,
    )
    settings = lineup.settings
    start_worker(settings)
    answers = lineup.answers(200, "shadow")
    client = lineup.view.client
    # The worker answers alone: no shadow answer is stored until the shadow scorer runs.
    assert not client.exists(*(lineup.view.keys.shadow(r.request_id) for r in answers))
    # Started afterwards, it reads the requests in a consumer group of its own, from the start.
    shadow_scorer = start_shadow(settings)

    # The answers are the champion's alone, exactly as it scores the same houses without a challenger.
    holder = ModelHolder(settings)
    assert holder.refresh()
    alone = {r.request_id: r for r in score(holder.current, requests_for(200, "shadow"))}
    assert {(r.model.variant, r.model.version) for r in answers if r.model} == {("champion", champion)}
    for answer in answers:
        assert answer.price == pytest.approx(alone[answer.request_id].price, rel=1e-9)

    # The challenger's answers sit beside them, keyed by request.
    def shadows() -> dict[str, ShadowAnswer]:
        raws = client.mget([lineup.view.keys.shadow(r.request_id) for r in answers])
        return {
            r.request_id: ShadowAnswer.model_validate_json(raw) for r, raw in zip(answers, raws, strict=True) if raw
        }

    wait_until(lambda: len(shadows()) == 200, 60, "shadow answers stored")
    for answer in answers:
        shadow = shadows()[answer.request_id]
        assert answer.price is not None
        assert (shadow.model.variant, shadow.model.version) == ("challenger", challenger)
        assert shadow.price == pytest.approx(answer.price * FACTOR, rel=1e-6)
        assert client.ttl(lineup.view.keys.shadow(answer.request_id)) > 0

    api = api_for(settings)
    wait_until(
        lambda: (api.get("/api/v1/model").json()["rollout"]["differences"] or {}).get("requests", 0) >= 200,
        30,
        "price differences recorded",
    )
    rollout = api.get("/api/v1/model").json()["rollout"]
    assert (rollout["mode"], rollout["challenger"]) == ("shadow", challenger)
    differences = rollout["differences"]
    assert differences["requests"] >= 200
    assert differences["median_abs_pct_diff"] == pytest.approx((FACTOR - 1) * 100, abs=1e-3)
    assert differences["share_over_10pct"] == 1.0
    assert {v["variant"]: v["version"] for v in rollout["variants"]} == {
        "champion": champion,
        "challenger": challenger,
    }
    assert all(v["latency"]["batches"] >= 1 for v in rollout["variants"])
    ready = shadow_scorer.log.read_text()
    assert '"niceness": 19' in ready  # the lowest CPU priority
    assert '"scheduling": "idle"' in ready
    if AUTOGROUP.exists():  # the kernel groups by session: its own session's group too
        assert f'"session_group_nice": {settings.shadow_session_nice}' in ready

    # Sales at the champion's prices: every sale counts for both, and the challenger is 20 % off.
    for answer in answers[:30]:
        fed = api.post("/api/v1/feedback", json={"request_id": answer.request_id, "sale_price": answer.price})
        assert fed.status_code == 201, fed.text
        assert (fed.json()["variant"], fed.json()["model_version"]) == ("champion", champion)
    figures = {v["variant"]: v["accuracy"] for v in api.get("/api/v1/model").json()["rollout"]["variants"]}
    assert figures["champion"]["sales"] == figures["challenger"]["sales"] == 30
    assert figures["champion"]["median_abs_pct_error"] == pytest.approx(0.0, abs=1e-6)
    assert figures["challenger"]["median_abs_pct_error"] == pytest.approx((FACTOR - 1) * 100, abs=1e-3)
    metrics = api.get("/metrics").text
    assert f'valuestream_model_variant_sales{{model_version="{challenger}",variant="challenger"}} 30.0' in metrics
    # The same 30 sales value both: what the promotion guard compares.
    paired = api.get("/api/v1/model").json()["rollout"]["paired"]
    assert (paired["champion"]["version"], paired["challenger"]["version"]) == (champion, challenger)
    assert paired["champion"]["sales"] == paired["challenger"]["sales"] == 30
    assert paired["champion"]["median_abs_pct_error"] == pytest.approx(0.0, abs=1e-6)
    assert paired["challenger"]["median_abs_pct_error"] == pytest.approx((FACTOR - 1) * 100, abs=1e-3)
    metrics = api.get("/metrics").text
    assert f'valuestream_model_paired_sales{{model_version="{challenger}",variant="challenger"}} 30.0' in metrics
    assert f'valuestream_model_paired_mape{{model_version="{champion}",variant="champion"}} 0.0' in metrics
    # The gauges are read from Redis on each scrape, so every API replica shows the same figures: a sale
    # that another replica recorded (written here straight into the state) shows on this one's next scrape.
    keys = lineup.view.keys
    client.lpush(keys.paired_feedback(champion, challenger), "50.000000|0|0;50.000000|0|0")
    client.hincrby(keys.paired_feedback_totals, f"{champion}:{challenger}", 1)
    client.lpush(keys.version_feedback(challenger), "50.000000|0|0")
    client.hincrby(keys.version_feedback_totals, challenger, 1)
    metrics = api.get("/metrics").text
    assert f'valuestream_model_paired_sales{{model_version="{challenger}",variant="challenger"}} 31.0' in metrics
    assert f'valuestream_model_variant_sales{{model_version="{challenger}",variant="challenger"}} 31.0' in metrics
    assert f'valuestream_model_variant_sales{{model_version="{champion}",variant="champion"}} 30.0' in metrics

    # Each sale moved the challenger's own recalibration too, in its shadow answer's segment, counting
    # the misses of the intervals the shadow stored.
    stored_shadows = shadows()
    fed = [(stored_shadows[a.request_id], a.price) for a in answers[:30]]
    state = client.hgetall(lineup.view.keys.calibration(challenger))
    for level in INTERVAL_LEVELS:
        for grouping in GROUPINGS:
            sales = Counter(shadow.segment.band(grouping) for shadow, _ in fed if shadow.segment)
            missed = Counter(
                shadow.segment.band(grouping)
                for shadow, price in fed
                if shadow.segment and price and missed_by(shadow.intervals, price)[level]
            )
            assert sum(sales.values()) == 30
            for band, count in sales.items():
                name = term(level, grouping, band)
                assert int(state[f"sales:{name}"]) == count
                assert int(state.get(f"missed:{name}", 0)) == missed[band]

    # The shadow scorer reads that state (every calibration poll) and serves the challenger's later
    # answers with it: each side's log distance from the price times exp(the segment's three terms).
    time.sleep(3 * settings.calibration_poll_seconds)
    later = lineup.answers(20, "recalibrated")
    later_keys = [lineup.view.keys.shadow(r.request_id) for r in later]
    wait_until(lambda: all(client.mget(later_keys)), 60, "shadow answers of the later requests")
    recalibrated = [ShadowAnswer.model_validate_json(raw or "") for raw in client.mget(later_keys)]
    plain = VariantRouter(settings, holder, challenger_holder(settings))
    assert plain.challenger is not None
    assert plain.challenger.refresh()
    raw = plain.shadow(requests_for(20, "recalibrated"), heads(later), timed=False).batches[0].answers
    factors = []
    for served, as_trained in zip(recalibrated, raw, strict=True):
        assert served.segment is not None
        assert served.price == pytest.approx(as_trained.price)
        factor = math.exp(
            sum(float(state.get(f"theta:{term(0.9, g, served.segment.band(g))}", 0.0)) for g in GROUPINGS)
        )
        factors.append(factor)
        widest = as_trained.intervals[-1]
        price = as_trained.price or 0.0
        assert served.intervals[-1].upper == pytest.approx(price * (widest.upper / price) ** factor, rel=1e-6)
        assert served.intervals[-1].lower == pytest.approx(price * (widest.lower / price) ** factor, rel=1e-6)
    assert any(abs(f - 1) > 0.01 for f in factors)  # the state moved: the check above could fail

    code, output = cli(monkeypatch, settings, "promote")
    assert code == 1, output
    assert f"median abs % error {(FACTOR - 1) * 100:.2f} against the champion's 0.00" in output
    registry = lineup.client
    assert version_of(registry, settings, settings.model_alias) == champion
    assert version_of(registry, settings, settings.challenger_alias) == challenger

    # Erasing a request erases its shadow answer.
    erased = answers[-1].request_id
    assert api.delete(f"/api/v1/predictions/{erased}").status_code == 204
    assert client.get(lineup.view.keys.shadow(erased)) is None

    # Nine batches in ten are scored at summary: the same prices and intervals as at full detail (all a
    # shadow keeps), but no latency figure, which comes from the full-detail batches alone.
    router = VariantRouter(settings, holder, challenger_holder(settings))
    assert router.challenger is not None
    assert router.challenger.refresh()
    requests = requests_for(200, "shadow")
    by_id = {a.request_id: a for a in answers}
    stored = [by_id[r.request_id] for r in requests]
    full, summary = (router.shadow(requests, heads(stored), timed=timed).batches for timed in (True, False))
    assert len(full) == len(summary) == 1
    assert full[0].latency_ms is not None
    assert full[0].latency_ms > 0
    assert summary[0].latency_ms is None
    assert [(a.price, a.intervals) for a in summary[0].answers] == [(a.price, a.intervals) for a in full[0].answers]
