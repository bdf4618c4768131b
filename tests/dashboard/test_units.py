"""Pure pieces of the dashboard: result flattening, job progress arithmetic, charts and maps (no services)."""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd

from dashboard import charts, maps
from dashboard.feed import COLUMNS, flatten, to_frame
from dashboard.job_progress import JobProgress
from schemas.messages import utc_now
from state import FeedEntry
from tests.dashboard.seeding import fake_results


def entries(count: int) -> list[FeedEntry]:
    return [
        FeedEntry.of(f"{1_700_000_000_000 + i}-0", {"id": r.request_id, "result": r.model_dump_json()})
        for i, r in enumerate(fake_results(count))
    ]


def test_flatten_takes_intervals_latency_and_the_subject() -> None:
    result = fake_results(1)[0]
    row = flatten(result.model_dump_json())
    assert row["price"] == result.price
    assert (row["lower_80"], row["upper_90"]) == (result.intervals[0].lower, result.intervals[1].upper)
    assert result.subject is not None
    assert result.price is not None
    assert (row["longitude"], row["latitude"]) == (result.subject.longitude, result.subject.latitude)
    assert row["ppsf"] == result.price / result.subject.gr_liv_area
    assert result.model is not None
    assert row["model_version"] == result.model.version


def test_frame_has_every_column_and_real_latencies() -> None:
    frame = to_frame(entries(40))
    assert list(frame.columns) == list(COLUMNS)
    done = frame[frame["status"] == "done"]
    assert done["latency_ms"].between(5, 80).all()
    assert frame.loc[frame["status"] == "failed", "price"].isna().all()
    assert frame["written_at"].iloc[0] == pd.Timestamp(1_700_000_000_000, unit="ms", tz="UTC")


def test_empty_feed_is_an_empty_frame_with_the_columns() -> None:
    frame = to_frame([])
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)


def test_job_progress_rate_and_eta() -> None:
    now = utc_now()
    job = JobProgress(job_id="j", total=100, done=30, failed=10, created_at=now - timedelta(seconds=20), seen_at=now)
    assert job.fraction == 0.4
    assert job.rate == 2.0
    assert job.eta_seconds == 30.0
    finished = job.model_copy(update={"done": 90})
    assert finished.finished
    assert finished.rate is None
    assert finished.eta_seconds is None


def test_waterfall_ends_at_the_price() -> None:
    result = fake_results(1)[0]
    figure = charts.contributions(result)
    steps = figure.data[0]
    assert steps.y[-1] == "price"
    assert abs(steps.x[0] + sum(steps.x[1:-1]) - result.price) < 1e-6


def test_map_sends_only_the_columns_it_draws() -> None:
    frame = to_frame(entries(20))
    deck = maps.points(frame, "longitude", "latitude", "{price_text} · {neighborhood}")
    sent = deck.layers[0].data  # pydeck turns the frame into records
    assert set(sent[0]) == {
        "longitude",
        "latitude",
        "neighborhood",
        "price",
        "colour",
        "price_text",
    }
    assert len(sent) == frame["longitude"].notna().sum()


def test_the_model_page_tables_show_each_variant_and_every_alias_move() -> None:
    from dashboard.views.model import events_table, paired_table, variants_table
    from schemas import Variant
    from schemas.rollout import Latency, LiveAccuracy, PairedAccuracy, RolloutEvent, RolloutPublic, VariantFigures

    served: tuple[tuple[Variant, str, int, float], ...] = (("champion", "4", 40, 6.0), ("challenger", "5", 12, 5.5))

    rollout = RolloutPublic(
        mode="canary",
        share=0.1,
        challenger="5",
        variants=[
            VariantFigures(
                variant=variant,
                version=version,
                latency=Latency(batches=3, p50_ms=2.0, p95_ms=4.0),
                accuracy=LiveAccuracy(version=version, sales=sales, total=sales, median_abs_pct_error=mdape),
            )
            for variant, version, sales, mdape in served
        ],
        events=[
            RolloutEvent(action="promote", at=utc_now(), from_version="3", to_version="4", forced=True, reason="why"),
        ],
    )
    variants = variants_table(rollout)
    assert variants[["variant", "version", "sales", "median abs % error"]].values.tolist() == [
        ["champion", "4", 40, 6.0],
        ["challenger", "5", 12, 5.5],
    ]
    events = events_table(rollout)
    assert events[["action", "from", "to", "reason"]].values.tolist() == [["promote (forced)", "3", "4", "why"]]
    same_sales = PairedAccuracy(
        champion=LiveAccuracy(version="4", sales=9, total=9, median_abs_pct_error=6.5, interval_coverage=0.8),
        challenger=LiveAccuracy(version="5", sales=9, total=9, median_abs_pct_error=4.5, interval_coverage=0.9),
    )
    assert paired_table(same_sales)[["variant", "version", "sales", "median abs % error"]].values.tolist() == [
        ["champion", "4", 9, 6.5],
        ["challenger", "5", 9, 4.5],
    ]


def test_the_recalibration_table_shows_each_bands_start_and_its_factor_now() -> None:
    from dashboard.views.model import recalibration_table
    from schemas.calibration import CalibrationPublic, SegmentCalibration

    state = CalibrationPublic(
        model_version="4",
        learning_rate=0.1,
        price_edges=(140_000.0, 195_000.0),
        segments=[
            SegmentCalibration(
                level=0.9, grouping="grade", band="low", log_factor=0.1, start_log_factor=0.2, sales=10, missed=2
            ),
            SegmentCalibration(level=0.9, grouping="grade", band="mid", log_factor=-0.1, sales=0, missed=0),
        ],
    )
    table = recalibration_table(state)
    assert table[["band", "start factor", "factor", "sales"]].values.tolist() == [
        ["low", round(math.exp(0.2), 3), round(math.exp(0.3), 3), 10],
        ["mid", 1.0, round(math.exp(-0.1), 3), 0],
    ]
    assert table["coverage"].iloc[0] == 0.8
    assert pd.isna(table["coverage"].iloc[1])  # no sales fed back: no coverage
