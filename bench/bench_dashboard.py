"""Dashboard render time per page with 10,000 results in Redis (Streamlit AppTest, real Redis).

Run: ``.venv/bin/python bench/bench_dashboard.py``; starts its own Redis on a free port, seeds
10,000 results through ``Predictions.save_results`` (the state package), then renders every page: ``cold`` with the
data caches cleared (Redis read, parsing, charts), ``warm`` as a rerun within the cache TTL.
Times are the page script's own (``main()``); the whole AppTest run, which adds about 0.5-1 s
of harness work per run, is shown beside them. Process start-up (imports, the training table
of the valuation page, MLflow's import) is paid once before measuring and reported as ``first``.
Writes ``bench/results/dashboard.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
from streamlit.testing.v1 import AppTest

from infra import stack
from infra.settings import Settings, get_settings
from tests.dashboard.seeding import create_job, fake_results, save

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
PAGES = ("value", "live", "analytics", "history", "jobs", "model")
SEEDED = 10_000
REPEATS = 5
BUDGET_SECONDS = 1.0


# The page's own script time is measured inside the script: AppTest adds its own cost to every run
# (it rescans installed packages for components and polls for deltas), which a served app does not pay.
SCRIPT = """
import time
import streamlit as st
from dashboard.views.{page} import main
started = time.perf_counter()
main()
st.session_state["script_seconds"] = time.perf_counter() - started
"""


def render(page: str) -> tuple[float, float]:
    """(seconds of the page's script, seconds of the whole AppTest run)."""
    at = AppTest.from_string(SCRIPT.format(page=page), default_timeout=120)
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return float(at.session_state["script_seconds"]), elapsed


def measure(page: str) -> dict[str, float]:
    first, _ = render(page)
    cold, warm, apptest = [], [], []
    for _ in range(REPEATS):
        st.cache_data.clear()
        script, whole = render(page)
        cold.append(script)
        apptest.append(whole)
        warm.append(render(page)[0])
    return {
        "first_s": round(first, 3),
        "cold_median_s": round(statistics.median(cold), 3),
        "cold_max_s": round(max(cold), 3),
        "warm_median_s": round(statistics.median(warm), 3),
        "apptest_cold_median_s": round(statistics.median(apptest), 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        redis = stack.start_redis(Path(folder), stack.free_port())
        try:
            os.environ["VALUESTREAM_REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
            os.environ["VALUESTREAM_REDIS_PREFIX"] = "bench"
            get_settings.cache_clear()
            settings: Settings = get_settings()
            save(settings, fake_results(SEEDED))
            create_job(settings, "bench-job", total=SEEDED)
            save(settings, fake_results(SEEDED // 2, seed=1, job_id="bench-job"))
            rows = {page: measure(page) for page in PAGES}
        finally:
            redis.stop()
    header = ("page", "first s", "cold med s", "cold max s", "warm med s", "AppTest s", f"< {BUDGET_SECONDS} s")
    print(f"{header[0]:<10} " + " ".join(f"{h:>11}" for h in header[1:]))
    for page, row in rows.items():
        ok = "yes" if row["cold_max_s"] < BUDGET_SECONDS else "NO"
        print(
            f"{page:<10} {row['first_s']:>11.3f} {row['cold_median_s']:>11.3f} {row['cold_max_s']:>11.3f} "
            f"{row['warm_median_s']:>11.3f} {row['apptest_cold_median_s']:>11.3f} {ok:>11}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "seeded_results": SEEDED,
                "repeats": REPEATS,
                "budget_seconds": BUDGET_SECONDS,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "pages": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
