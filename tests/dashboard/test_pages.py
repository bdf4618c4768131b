"""Every page through Streamlit's AppTest against the session's real Redis (and the real API for submitting)."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Progress

from dashboard import api_client
from infra import stack
from infra.recalibration import start_of, term
from infra.settings import Settings
from registry.client import client_for
from registry.versions import describe
from schemas.calibration import Segment
from state import State
from tests.dashboard import seeding
from tests.dashboard.conftest import SEEDED, page, use

pytestmark = pytest.mark.integration
NEW_HIGH = Segment(construction="new", grade="high", price="high")


def rendered(name: str) -> AppTest:
    at = page(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def progress_bar(at: AppTest) -> tuple[int, str]:
    """(percent, text) of the page's progress bar."""
    bar = at.get("progress")[0]
    assert isinstance(bar, Progress)
    return bar.value, bar.text


def metric(at: AppTest, label: str) -> str:
    return str(next(m for m in at.metric if m.label == label).value)


def test_live_feed_shows_counts_failures_and_newest_rows(seeded: Settings) -> None:
    at = rendered("live")
    assert metric(at, "results, last 10 min") == f"{SEEDED:,}"
    assert metric(at, "failed") == "5.0%"
    assert len(at.get("plotly_chart")) == 2
    table = at.dataframe[0].value
    assert len(table) == 200
    assert table["written_at"].is_monotonic_decreasing
    assert len(at.get("deck_gl_json_chart")) == 1


def test_analytics_draws_every_chart(seeded: Settings) -> None:
    at = rendered("analytics")
    assert len(at.get("plotly_chart")) == 4
    versions = at.dataframe[0].value
    assert set(versions["model_version"]) == {"1", "2"}
    assert versions["results"].sum() == SEEDED * 19 // 20


def test_history_filters_and_finds_by_id(seeded: Settings) -> None:
    at = rendered("history")
    assert len(at.dataframe[0].value) == SEEDED
    at.multiselect(key="history_status").set_value(["failed"]).run()
    assert set(at.dataframe[0].value["status"]) == {"failed"}
    assert len(at.dataframe[0].value) == SEEDED // 20
    at.multiselect(key="history_status").set_value([]).run()
    at.text_input(key="history_search").set_value("r0-000042").run()
    assert list(at.dataframe[0].value["request_id"]) == ["r0-000042"]
    at.text_input(key="history_search").set_value("not-in-the-feed").run()
    assert any("No record" in i.value for i in at.info)


def test_pages_say_redis_is_down_and_recover_when_it_is_back(
    base_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = stack.free_port()
    settings = base_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0", "redis_prefix": "down"})
    use(settings, monkeypatch)
    for name in ("live", "analytics", "history", "jobs"):
        at = rendered(name)
        assert any("result store (Redis) is not reachable" in w.value for w in at.warning), name
    service = stack.start_redis(tmp_path, port)
    try:
        seeding.save(settings, seeding.fake_results(20, seed=3))
        at = rendered("history")
        assert not at.warning
        assert len(at.dataframe[0].value) == 20
    finally:
        service.stop()


def test_empty_feed_says_so(empty: Settings) -> None:
    for name in ("live", "analytics", "history"):
        at = rendered(name)
        assert at.info, name


def test_jobs_page_follows_progress_from_redis(empty: Settings) -> None:
    seeding.create_job(empty, "job-progress", total=50, age_seconds=10)
    seeding.save(empty, seeding.fake_results(20, seed=4, failed_every=10, job_id="job-progress"))
    at = page("jobs")
    at.session_state["job_id"] = "job-progress"
    at.run()
    assert not at.exception
    percent, text = progress_bar(at)
    assert percent == 40
    assert "20 of 50 rows" in text
    assert "s left" in text
    jobs = at.dataframe[0].value
    assert list(jobs["job_id"]) == ["job-progress"]
    assert (jobs["done"].iloc[0], jobs["failed"].iloc[0]) == (18, 2)

    seeding.save(empty, seeding.fake_results(50, seed=4, failed_every=10, job_id="job-progress"))
    at.run()
    assert progress_bar(at) == (100, "finished: 45 done, 5 failed")


def submit(at: AppTest, area: int) -> AppTest:
    next(n for n in at.number_input if n.label == "Living area (sq ft)").set_value(area)
    at.selectbox(key="neighborhood").set_value("Somerset")
    next(b for b in at.button if b.label == "Value this house").click()
    return at.run(timeout=90)


def test_value_form_submits_through_the_api_and_shows_the_price(served: Settings) -> None:
    at = submit(rendered("value"), 1800)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    price = metric(at, "Estimated price")
    assert price.startswith("$")
    assert 50_000 < float(price[1:].replace(",", "")) < 1_000_000
    assert len(at.get("plotly_chart")) == 2  # interval range and contributions
    assert len(at.dataframe[0].value) > 0  # comparable sales
    assert at.session_state["valuation"].status == "done"


def test_value_form_says_when_the_api_is_unreachable(base_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use(base_settings.model_copy(update={"api_url": f"http://127.0.0.1:{stack.free_port()}"}), monkeypatch)
    at = submit(rendered("value"), 1500)
    assert not at.exception
    assert any("not reachable" in e.value for e in at.error)
    assert not at.metric


def test_model_page_shows_the_champion_and_its_plots(
    base_settings: Settings, champion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(base_settings, monkeypatch)
    at = rendered("model")
    assert metric(at, base_settings.model_alias) == f"version {champion}"
    versions = at.dataframe[0].value
    assert champion in set(versions["version"])
    assert "cv_rmse" in at.dataframe[1].value.index
    assert len(at.get("image")) == 4  # three report plots and the ratio study's
    assert "Ratio study and fairness by segment" in [h.value for h in at.subheader]
    segments = next(d.value for d in at.dataframe if "COD verdict" in d.value.columns)
    assert set(segments["dimension"]) == {"all"}  # the first dimension offered
    groups = next(d.value for d in at.dataframe if "group" in d.value.columns)
    assert groups["group"].iloc[-1] == "all sales"


def test_model_page_says_mlflow_is_unreachable(base_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{stack.free_port()}"
    use(base_settings.model_copy(update={"mlflow_tracking_uri": dead}), monkeypatch)
    at = rendered("model")
    assert any("not available" in w.value for w in at.warning)


def test_the_app_navigates_to_the_valuation_page_by_default(seeded: Settings) -> None:
    at = AppTest.from_file(str(Path(__file__).parents[2] / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Value a house"


def test_an_uploaded_file_runs_to_the_end_and_its_results_download(served: Settings) -> None:
    houses = "gr_liv_area,year_built,neighborhood\n" + "".join(
        f"{1000 + 50 * i},{1950 + i},North_Ames\n" for i in range(12)
    )
    job_id = api_client.upload_job(served.api_url, "houses.csv", houses.encode())
    at = page("jobs")
    at.session_state["job_id"] = job_id
    deadline = time.monotonic() + 60
    while at.run().get("progress") == [] or progress_bar(at)[0] < 100:
        assert not at.exception
        assert time.monotonic() < deadline, "the job did not finish in 60 s"
        time.sleep(0.5)
    assert progress_bar(at) == (100, "finished: 12 done, 0 failed")
    content = api_client.job_results(served.api_url, job_id, "csv")
    assert len(content.decode().strip().splitlines()) == 13  # header and one row per house


def test_model_page_shows_accuracy_on_observed_sales(
    base_settings: Settings, champion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = base_settings.model_copy(update={"redis_prefix": f"fb{time.monotonic_ns()}"})

    async def send_feedback() -> None:
        store = State.connect(settings)
        try:
            for ape in (2.0, 4.0, 30.0):  # two close prices and one far off, all inside the interval
                await store.feedback.record("Gilbert", champion, (ape, ape <= 10.0, True))
        finally:
            await store.close()

    asyncio.run(send_feedback())
    use(settings, monkeypatch)
    at = rendered("model")
    assert not at.exception
    table = at.dataframe[-1].value
    row = table[table["neighborhood"] == "Gilbert"].iloc[0]
    assert row["median abs % error"] == pytest.approx(4.0)
    assert row["within 10 %"] == pytest.approx(2 / 3)
    assert (row["in window"], row["total"]) == (3, 3)


def test_model_page_shows_the_intervals_recalibration(served: Settings, champion: str) -> None:
    async def feed_back() -> None:
        store = State.connect(served)
        try:
            for missed in (True, False, False):
                await store.calibration.observe(champion, NEW_HIGH, {0.8: missed, 0.9: missed}, 0.05)
        finally:
            await store.close()

    asyncio.run(feed_back())
    at = rendered("model")
    table = next(d.value for d in at.dataframe if "factor" in d.value.columns)
    row = table[(table["level"] == 0.9) & (table["grouping"] == "construction") & (table["band"] == "new")].iloc[0]
    assert (row["sales"], row["coverage"]) == (3, pytest.approx(2 / 3))
    # the start the champion's training settled on its backtest, then the live steps on top of it
    start = start_of(describe(client_for(served.tracking_uri), served).metrics).get(term(0.9, "construction", "new"))
    assert start is not None
    assert row["start factor"] == pytest.approx(round(math.exp(start), 3))
    assert row["factor"] == pytest.approx(round(math.exp(start + 0.05 * (0.9 - 0.1 - 0.1)), 3))
    assert len(at.get("plotly_chart")) == 1
