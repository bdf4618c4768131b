"""``make run`` / ``make stop``: the whole local stack under one command.

``up`` starts Kafka and Redis, creates the topics, trains and registers a model when no
version carries the serving alias, then runs the workers, the API, the dashboard and the
MLflow UI under honcho (a Procfile runner) and prints the URLs. Ctrl-C stops all of it.
``down`` stops what a previous ``up`` left running (from another terminal, or after a crash).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import structlog
import typer
from honcho.manager import Manager
from honcho.printer import Printer

from infra import stack
from infra.logging import configure_logging
from infra.settings import Settings, get_settings, to_env

log = structlog.get_logger(__name__)
cli = typer.Typer(add_completion=False, help=__doc__)


def local_settings(settings: Settings) -> Settings:
    """Point every process at the Kafka, Redis and API that this command starts."""
    return settings.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{settings.kafka_port}",
            "redis_url": f"redis://127.0.0.1:{settings.redis_port}/0",
            "api_url": f"http://{settings.api_host}:{settings.api_port}",
        }
    )


def pid_file(settings: Settings) -> Path:
    return settings.state_path / "run.json"


def app_processes(settings: Settings) -> dict[str, str]:
    python = sys.executable
    processes = {f"worker{i}": f"{python} -m consumers --index {i}" for i in range(settings.workers)}
    processes["api"] = f"{python} -m api"
    processes["dashboard"] = (
        f"{python} -m streamlit run dashboard/app.py --server.port {settings.dashboard_port} "
        "--server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false"
    )
    processes["mlflow"] = (
        f"{python} -m mlflow ui --backend-store-uri {settings.tracking_uri} "
        f"--host 127.0.0.1 --port {settings.mlflow_ui_port} --workers 1"
    )
    return processes


def ensure_model(settings: Settings) -> None:
    from training.pipeline import champion_exists, train

    if champion_exists(settings):
        log.info("champion_found", uri=settings.champion_uri)
        return
    log.info("training_first_model", uri=settings.champion_uri)
    outcome = train(settings, quick=False, data_path=None)
    log.info("model_registered", version=outcome.version, promoted=outcome.promoted)


def banner(settings: Settings) -> str:
    api = f"http://{settings.api_host}:{settings.api_port}"
    return "\n".join(
        [
            "",
            "valuestream is up:",
            f"  API          {api}/api/v1   (docs: {api}/docs)",
            f"  dashboard    http://127.0.0.1:{settings.dashboard_port}",
            f"  MLflow       http://127.0.0.1:{settings.mlflow_ui_port}",
            f"  Kafka        {settings.kafka_bootstrap}   Redis {settings.redis_url}",
            f"  metrics      {api}/metrics, workers on :{settings.worker_metrics_port}+",
            "Ctrl-C stops everything.",
            "",
        ]
    )


@cli.command()
def up() -> None:
    """Start everything and stay in the foreground."""
    settings = local_settings(get_settings())
    configure_logging(settings, "run")
    settings.state_path.mkdir(parents=True, exist_ok=True)
    cache = settings.state_path / "cache"
    cache.mkdir(exist_ok=True)
    kafka = stack.start_kafka(
        settings.state_path, settings.kafka_port, partitions=settings.kafka_partitions, cache_dir=cache
    )
    redis_service: stack.Service | None = None
    try:
        redis_service = stack.start_redis(settings.state_path, settings.redis_port)
        pid_file(settings).write_text(
            json.dumps({"run": os.getpid(), "kafka": kafka.process.pid, "redis": redis_service.process.pid})
        )
        asyncio.run(
            stack.ensure_topics(
                settings.kafka_bootstrap,
                [settings.requests_topic, settings.results_topic, settings.dlq_topic],
                settings.kafka_partitions,
            )
        )
        ensure_model(settings)
        manager = Manager(Printer(sys.stdout))
        env = os.environ | to_env(settings)
        for name, command in app_processes(settings).items():
            manager.add_process(name, command, env=env)
        print(banner(settings), flush=True)
        manager.loop()
    finally:
        if redis_service is not None:
            redis_service.stop()
        kafka.stop()
        pid_file(settings).unlink(missing_ok=True)


@cli.command()
def down() -> None:
    """Stop what ``up`` started; leaves the state folder as it is."""
    settings = get_settings()
    path = pid_file(settings)
    if not path.exists():
        print("nothing to stop")
        return
    pids: dict[str, int] = json.loads(path.read_text())
    run_pid = pids.pop("run", None)
    if run_pid is not None:
        stack.stop_process(run_pid, timeout=60)
    for name, pid in pids.items():
        stack.stop_process_group(pid, timeout=30)
        print(f"stopped {name}")
    path.unlink(missing_ok=True)


if __name__ == "__main__":
    cli()
