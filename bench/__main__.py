"""``make bench``: run every benchmark under ``bench/`` in turn, then write one markdown report.

Each ``bench/bench_*.py`` prints its own table and writes ``bench/results/<name>.json``; this
runner adds ``bench/results/REPORT.md`` with all of them (and the plots). A champion is trained
into the local state folder first if none is registered (the model benchmark measures it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.report import RESULTS, build
from infra.logging import configure_logging
from infra.settings import get_settings

CORES = os.cpu_count() or 1
ORDER: tuple[tuple[str, ...], ...] = (
    ("bench_model.py",),
    ("bench_stream.py",),
    ("bench_bulk.py",),  # one worker: how far one gets
    *((("bench_bulk.py", "--workers", str(CORES)),) if CORES > 1 else ()),  # a worker per core: the target's run
    ("bench_delivery.py",),
    ("bench_rest.py",),
    ("bench_shadow_cpu.py",),
    ("bench_shadow.py",),
    ("bench_dashboard.py",),
    ("bench_startup.py",),
)


def main() -> int:
    settings = get_settings()
    configure_logging(settings, "bench")
    from registry.versions import champion_exists
    from training.pipeline import train

    if not champion_exists(settings):
        train(settings, quick=False, data_path=None)
    here = Path(__file__).resolve().parent
    RESULTS.mkdir(exist_ok=True)
    failures = []
    for script, *args in ORDER:
        path = here / script
        if not path.exists():
            continue
        name = " ".join([script, *args])
        print(f"\n=== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, str(path), *args], check=False).returncode
        print(f"=== {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failures.append(name)
    report = build()
    print(f"\nreport: {report}")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
