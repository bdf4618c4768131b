"""``make run`` on a fresh state: time to the first valuation, time to the full model, idle memory.

Run: ``.venv/bin/python -m bench.bench_startup`` (or ``.venv/bin/python bench/bench_startup.py``).
Starts what ``make run`` starts (``python -m infra.run up``) with a new, empty state folder in a
temporary directory and free ports, so it never meets another stack, and measures from that start:

- ``first_valuation_seconds``: the first ``POST /api/v1/predict?wait=5`` answered ``done``
  (Kafka's jars copied from the local Maven repository, Kafka formatted, the quick model
  trained and registered, the stack up);
- ``full_model_seconds``: the first valuation answered by another version than the first one,
  once the background training has registered and promoted the full model and the worker has
  switched to it; the worker's and the API's process ids are compared with the first ones, so
  ``restarts`` counts any restart in between;
- ``idle``: once the background training has exited and the stack has been left alone for
  ``SETTLE_SECONDS``, the resident memory (RSS, and PSS, which shares shared pages out) of every
  process of the stack: the orchestrator and all its descendants, by role.

Then it stops the stack as ``make stop`` does (SIGTERM) and writes ``bench/results/startup.json``
(and what ``make run`` printed, ``bench/results/startup_terminal.txt``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psutil

from infra import stack
from infra.training_status import read_status

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "startup.json"
TERMINAL = RESULTS.with_name("startup_terminal.txt")
"""What ``make run`` printed during the measured run."""
SETTLE_SECONDS = 60.0
FIRST_TIMEOUT_SECONDS = 20 * 60.0
FULL_TIMEOUT_SECONDS = 60 * 60.0
HOUSE = {"features": {"gr_liv_area": 1656, "year_built": 1960, "neighborhood": "North_Ames"}}
ROLES = (
    ("kafka", "kafka.Kafka"),
    ("redis", "redis-server"),
    ("supervisord", "supervisor.supervisord"),
    ("orchestrator", "infra.run"),
    ("shadow scorer", "-m consumers --shadow"),
    ("worker", "-m consumers"),
    ("api", "-m api"),
    ("dashboard", "streamlit"),
    ("mlflow ui", "mlflow"),
    ("training", "-m training"),
)


def role(process: psutil.Process) -> str:
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    return next((name for name, marker in ROLES if marker in line), line[:60])


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def memory(root: psutil.Process) -> dict[str, Any]:
    """Total and per-role RSS and PSS (MB) of ``root`` and its descendants."""
    by_role: dict[str, dict[str, float]] = {}
    for process in tree(root):
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        entry = by_role.setdefault(role(process), {"processes": 0, "rss_mb": 0.0, "pss_mb": 0.0})
        entry["processes"] += 1
        entry["rss_mb"] += info.rss / 2**20
        entry["pss_mb"] += getattr(info, "pss", info.rss) / 2**20
    return {
        "rss_mb": round(sum(e["rss_mb"] for e in by_role.values()), 1),
        "pss_mb": round(sum(e["pss_mb"] for e in by_role.values()), 1),
        "processes": sum(int(e["processes"]) for e in by_role.values()),
        "by_role": [
            {
                "role": name,
                "processes": int(e["processes"]),
                "rss_mb": round(e["rss_mb"], 1),
                "pss_mb": round(e["pss_mb"], 1),
            }
            for name, e in sorted(by_role.items(), key=lambda item: -item[1]["rss_mb"])
        ],
    }


def pids(root: psutil.Process, wanted: str) -> list[int]:
    return sorted(p.pid for p in tree(root) if role(p) == wanted)


def value(client: httpx.Client, api: str) -> str | None:
    """The model version that answered one valuation, or None when it was not answered in time."""
    try:
        response = client.post(f"{api}/api/v1/predict", params={"wait": 5}, json=HOUSE, timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    if body.get("status") != "done":
        return None
    return str(body["model"]["version"])


def main() -> None:
    state = Path(tempfile.mkdtemp(prefix="vs-startup-"))
    ports = {
        name: stack.free_port()
        for name in ("KAFKA_PORT", "REDIS_PORT", "API_PORT", "DASHBOARD_PORT", "MLFLOW_UI_PORT", "WORKER_METRICS_PORT")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALUESTREAM_")}
    env |= {f"VALUESTREAM_{k}": str(v) for k, v in ports.items()}
    env |= {"VALUESTREAM_STATE_DIR": str(state), "VALUESTREAM_WORKERS": "1"}
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    output = state / "make-run.out"
    print(f"state {state}; API {api}", flush=True)
    started = time.monotonic()
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "infra.run", "up"],
        cwd=REPO,
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    root = psutil.Process(orchestrator.pid)
    result: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "workers": 1}
    client = httpx.Client()
    try:
        first = None
        while first is None:
            if orchestrator.poll() is not None:
                raise RuntimeError(f"make run exited with {orchestrator.returncode}:\n{output.read_text()[-3000:]}")
            if time.monotonic() - started > FIRST_TIMEOUT_SECONDS:
                raise TimeoutError("no valuation within the time allowed")
            first = value(client, api)
            if first is None:
                time.sleep(0.5)
        result["first_valuation_seconds"] = round(time.monotonic() - started, 1)
        result["first_version"] = first
        print(f"first valuation after {result['first_valuation_seconds']} s (version {first})", flush=True)
        result["at_first_valuation"] = memory(root)  # before the background training starts
        workers, apis = pids(root, "worker"), pids(root, "api")

        status_file = state / "training" / "status.json"
        latest = first
        shown = ""
        while latest == first:
            if orchestrator.poll() is not None:
                raise RuntimeError(f"make run exited with {orchestrator.returncode}:\n{output.read_text()[-3000:]}")
            if time.monotonic() - started > FULL_TIMEOUT_SECONDS:
                raise TimeoutError("the full model was not served within the time allowed")
            status = read_status(status_file)
            if status is not None and status.summary() != shown:
                shown = status.summary()
                print(f"  {time.monotonic() - started:6.0f} s  {shown}", flush=True)
                if status.state in {"failed", "stopped"} or (status.state == "finished" and not status.promoted):
                    raise RuntimeError(f"the full model will not be served: {shown}")
            time.sleep(5.0)
            latest = value(client, api) or latest
        result["full_model_seconds"] = round(time.monotonic() - started, 1)
        result["full_version"] = latest
        status = read_status(status_file)
        if status is not None and status.finished_at is not None:
            result["full_training_seconds"] = round((status.finished_at - status.started_at).total_seconds(), 1)
        result["restarts"] = int(pids(root, "worker") != workers) + int(pids(root, "api") != apis)
        print(f"full model after {result['full_model_seconds']} s (version {latest})", flush=True)

        while pids(root, "training"):
            time.sleep(2.0)
        time.sleep(SETTLE_SECONDS)
        result["idle"] = memory(root)
        result["idle_settle_seconds"] = SETTLE_SECONDS
    finally:
        client.close()
        stopping = time.monotonic()
        leftovers = tree(root)[1:]
        with_children = [p for p in leftovers if p.is_running()]
        orchestrator.send_signal(signal.SIGTERM)
        try:
            orchestrator.wait(240)
        except subprocess.TimeoutExpired:
            orchestrator.kill()
        result["stop_seconds"] = round(time.monotonic() - stopping, 1)
        for process in with_children:
            if process.is_running():
                result.setdefault("left_running", []).append(role(process))
                process.kill()
        TERMINAL.parent.mkdir(parents=True, exist_ok=True)
        TERMINAL.write_text(output.read_text(errors="replace"))
        shutil.rmtree(state, ignore_errors=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print()
    print("| what | measured | target |")
    print("| --- | --- | --- |")
    print(f"| first valuation after `make run`, fresh state | {result['first_valuation_seconds']:.0f} s | ≤ 180 s |")
    print(
        f"| full model serving, no restart | {result['full_model_seconds']:.0f} s (restarts: {result['restarts']}) | |"
    )
    idle = result["idle"]
    print(f"| idle stack, 1 worker: RSS (PSS) | {idle['rss_mb']:,.0f} MB ({idle['pss_mb']:,.0f} MB) | ≤ 2,560 MB |")
    for entry in idle["by_role"]:
        print(f"|   {entry['role']} x{entry['processes']} | {entry['rss_mb']:,.0f} MB ({entry['pss_mb']:,.0f} MB) | |")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
