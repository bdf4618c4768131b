"""``make run`` / ``make stop``: the whole local stack under one command.

``up`` hands every long-running process to a supervisor (``infra.supervision``: supervisord)
and starts them in order, each once what it needs answers: Kafka and Redis, the topics, a model
(a quick one, trained in a minute by a process of its own, when none is registered), then the
workers, the shadow scorer, the API, the dashboard and the MLflow UI. It prints one line per
service as it comes up, then the URLs and the model being served. On a fresh state the full
model then trains in the background (``python -m training --unless-full-model``, niced) and
takes over through the registry's usual promotion rule; the workers pick it up when the alias
moves.

While running, a process that dies is restarted by the supervisor, with backoff, and the
terminal says so; nothing else is stopped. Ctrl-C (or ``make stop``) stops everything, the
applications first, Kafka and Redis last. Everything else goes to ``.state/logs/``.

The orchestrator imports neither MLflow nor the training code: its footprint stays that of
Redis, aiokafka and supervisor's XML-RPC client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

import structlog
import typer

from infra import cluster, programs, readiness, stack
from infra.logging import configure_logging
from infra.settings import Settings, get_settings, to_env
from infra.supervision import Program, Supervisor
from infra.topics import ensure_settings_topics
from infra.training_status import read_status, status_path
from infra.watch import Level, Watcher
from schemas.messages import utc_now
from schemas.training import STARTING, TrainingStatus

log = structlog.get_logger(__name__)
cli = typer.Typer(add_completion=False, help=__doc__)

INFRA_READY_TIMEOUT_SECONDS = 120.0
APP_READY_TIMEOUT_SECONDS = 180.0
QUICK_TRAINING_TIMEOUT_SECONDS = 900.0
STARTED = time.monotonic()


class Stop(Exception):
    """SIGTERM (``make stop``): unwind like Ctrl-C."""


def _stop(signum: int, frame: FrameType | None) -> NoReturn:
    raise Stop(signal.Signals(signum).name)


def local_settings(settings: Settings) -> Settings:
    """Point every process at the Kafka, Redis and API that this command starts."""
    brokers = settings.kafka_brokers
    replicated = {"kafka_replication_factor": brokers, "kafka_min_insync_replicas": 2} if brokers > 1 else {}
    return settings.model_copy(
        update=replicated
        | {
            "kafka_bootstrap": ",".join(f"127.0.0.1:{port}" for port in kafka_ports(settings)),
            "redis_url": f"redis://127.0.0.1:{settings.redis_port}/0",
            "api_url": f"http://{settings.api_host}:{settings.api_port}",
        }
    )


def kafka_ports(settings: Settings) -> list[int]:
    """``VALUESTREAM_KAFKA_PORT`` and, for a cluster, the ports that follow it."""
    return [settings.kafka_port + i for i in range(settings.kafka_brokers)]


def kafka_commands(settings: Settings, cache: Path) -> list[list[str]]:
    """One broker, or with ``VALUESTREAM_KAFKA_BROKERS`` > 1 a KRaft cluster (controllers 1000 ports up)."""
    if settings.kafka_brokers == 1:
        return [
            stack.kafka_command(
                settings.state_path, settings.kafka_port, partitions=settings.kafka_partitions, cache_dir=cache
            )
        ]
    ports = kafka_ports(settings)
    nodes = cluster.cluster_commands(
        settings.state_path / "cluster",
        ports,
        partitions=settings.kafka_partitions,
        cache_dir=cache,
        controller_ports=[port + 1000 for port in ports],
    )
    return [node.command for node in nodes]


def pid_file(settings: Settings) -> Path:
    return settings.state_path / "run.json"


def say(text: str, level: Level = "info", **fields: object) -> None:
    """One line on the terminal; the same event, structured, in ``.state/logs/run.log``."""
    stamp = time.strftime("%H:%M:%S")
    marker = {"info": "", "warning": "WARNING ", "error": "ERROR "}[level]
    print(f"[{stamp}] {marker}{text}", flush=True)
    getattr(log, level)(text, **fields)


def claimed_ports(settings: Settings) -> dict[int, str]:
    ports = {
        settings.api_port: "VALUESTREAM_API_PORT",
        settings.dashboard_port: "VALUESTREAM_DASHBOARD_PORT",
        settings.mlflow_ui_port: "VALUESTREAM_MLFLOW_UI_PORT",
        settings.shadow_metrics_port: "VALUESTREAM_SHADOW_METRICS_PORT",
    }
    for index in range(settings.workers):
        ports[settings.worker_metrics_port + index] = "VALUESTREAM_WORKER_METRICS_PORT"
    return ports


def check_ports(settings: Settings) -> None:
    for port, variable in claimed_ports(settings).items():
        if stack.port_open(port):
            raise stack.StackError(f"port {port} is taken: stop what listens there or set {variable}")


class Stack:
    """The supervised processes of one ``up``, started in order and watched until stopped."""

    def __init__(self, settings: Settings, supervisor: Supervisor) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.probes = readiness.probes(settings)
        self.started_at: dict[str, float] = {}
        self.waiting: list[str] = []

    def start(self, names: list[str]) -> None:
        """Start ``names`` (those not started yet); ``poll`` reports each once it answers."""
        for name in names:
            if name not in self.started_at:
                self.supervisor.start(name)
                self.started_at[name] = time.monotonic()
                self.waiting.append(name)

    def poll(self) -> None:
        """Print one line for each started program that answers now; a program the supervisor
        gave up on stops ``up`` with its log's tail."""
        for name in list(self.waiting):
            if self.probes[name]():
                self.waiting.remove(name)
                say(f"{self.describe(name)} ready ({time.monotonic() - self.started_at[name]:.1f} s)", program=name)
                continue
            state = self.supervisor.state(name)
            if state.state == "FATAL":
                raise stack.StackError(
                    f"{name} could not start ({state.description}); last lines of {state.log}:\n"
                    f"{stack.tail(Path(state.log), 20)}"
                )

    def wait_ready(self, names: list[str], timeout: float) -> None:
        """Start ``names`` and wait until every started program answers, or stop ``up`` after ``timeout``."""
        self.start(names)
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if not self.waiting:
                return
            if time.monotonic() > deadline:
                name = self.waiting[0]
                raise stack.StackError(
                    f"{name} did not answer within {timeout:.0f} s; last lines of its log:\n"
                    f"{stack.tail(self.supervisor.programs[name].log, 20)}"
                )
            time.sleep(0.25)

    def describe(self, name: str) -> str:
        s = self.settings
        return {
            "kafka": f"Kafka     {s.kafka_bootstrap}",
            "redis": f"Redis     {s.redis_url}",
            "api": f"API       {readiness.api_base(s)}/api/v1",
            "dashboard": f"dashboard http://127.0.0.1:{s.dashboard_port}",
            "mlflow": f"MLflow UI http://127.0.0.1:{s.mlflow_ui_port}",
            programs.SHADOW: f"shadow    scorer at nice 19, {s.rollout_mode} mode (metrics :{s.shadow_metrics_port})",
        }.get(name, f"{name}   serving a model")


def wait_for_coordinator(settings: Settings) -> None:
    """Workers join their group only once Kafka names its coordinator (on a new broker, after the
    offsets topic is created), so that none of them logs an error for a broker still starting."""
    deadline = time.monotonic() + INFRA_READY_TIMEOUT_SECONDS
    while not asyncio.run(stack.group_coordinator_ready(settings.kafka_bootstrap, settings.consumer_group)):
        if time.monotonic() > deadline:
            raise stack.StackError(
                f"Kafka named no coordinator for the group {settings.consumer_group!r} "
                f"within {INFRA_READY_TIMEOUT_SECONDS:.0f} s; see {stack.kafka_server_log(settings.state_path)}"
            )
        time.sleep(0.5)


def ours(status: TrainingStatus | None, launched: datetime) -> TrainingStatus | None:
    """The record if the training launched at ``launched`` wrote it (not an earlier one)."""
    return status if status is not None and status.started_at >= launched else None


def ensure_model(settings: Settings, meanwhile: Callable[[], None]) -> TrainingStatus | None:
    """Train the quick first model in a process of its own when no champion is registered,
    calling ``meanwhile`` as it goes. Returns its status record, or None when a champion was
    there and nothing was trained."""
    path = status_path(settings)
    launched = utc_now()
    logfile = programs.logs_dir(settings) / "training-quick.log"
    started = time.monotonic()
    with logfile.open("ab") as out:
        process = subprocess.Popen(
            programs.quick_training_command(),
            cwd=stack.REPO_ROOT,
            env=os.environ | to_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    shown = ""
    try:
        while process.poll() is None:
            status = ours(read_status(path), launched)
            if status is not None and status.state == "running" and status.stage not in {shown, STARTING}:
                if not shown:
                    say("no model registered: training a quick one first (about a minute)")
                shown = status.stage
                counted = f" ({status.step + 1}/{status.steps})" if status.steps > 1 else ""
                say(f"  quick training: {status.stage}{counted}")
            meanwhile()
            if time.monotonic() - started > QUICK_TRAINING_TIMEOUT_SECONDS:
                raise stack.StackError(f"the quick training took over {QUICK_TRAINING_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
    if process.returncode != 0:
        raise stack.StackError(
            f"training the first model failed (exit {process.returncode}); last lines of {logfile}:\n"
            f"{stack.tail(logfile, 20)}"
        )
    status = ours(read_status(path), launched)
    if status is not None and status.state == "finished":
        say(f"quick model trained in {time.monotonic() - started:.0f} s: version {status.version}")
    else:
        say(f"model: {settings.champion_uri} is registered")
    return status


def banner(settings: Settings, serving: list[str], background: bool) -> str:
    api = readiness.api_base(settings)
    model = f"{settings.model_name} version {', '.join(serving) or '?'}"
    if background:
        model += " (quick model; the full one trains in the background and takes over when it scores better)"
    return "\n".join(
        [
            "",
            f"valuestream is up ({time.monotonic() - STARTED:.0f} s after the start):",
            f"  API          {api}/api/v1   (docs: {api}/docs)",
            f"  dashboard    http://127.0.0.1:{settings.dashboard_port}",
            f"  MLflow       http://127.0.0.1:{settings.mlflow_ui_port}",
            f"  Kafka        {settings.kafka_bootstrap}   Redis {settings.redis_url}",
            f"  metrics      {api}/metrics, workers on :{settings.worker_metrics_port}+, "
            f"shadow scorer on :{settings.shadow_metrics_port}",
            f"  model        {model}",
            f"  logs         {programs.logs_dir(settings)}",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def watch(stack_: Stack, settings: Settings, serving: list[str]) -> None:
    """Until stopped: report crashes and restarts, the background training, and model switches."""
    watcher = Watcher(one_shot=frozenset({programs.TRAINER}))
    watcher.changes(stack_.supervisor.states())
    path = status_path(settings)
    first = read_status(path)  # the quick training's record, already reported
    shown_training = (first.state, first.stage) if first is not None else ("", "")
    next_model_check = 0.0
    while True:
        if not stack_.supervisor.running():
            raise stack.StackError(f"the supervisor exited; see {stack_.supervisor.log}")
        for event in watcher.changes(stack_.supervisor.states()):
            say(event.message, event.level, program=event.program)
        status = read_status(path)
        if status is not None and (status.state, status.stage) != shown_training and status.stage != STARTING:
            shown_training = (status.state, status.stage)
            say(f"background {status.summary()}", "error" if status.state == "failed" else "info")
        if time.monotonic() >= next_model_check:
            next_model_check = time.monotonic() + 5.0
            now = readiness.serving_versions(settings)
            if now and now != serving:
                serving = now
                say(f"now serving {settings.model_name} version {', '.join(now)}")
        time.sleep(1.0)


@cli.command()
def up() -> None:
    """Start everything and stay in the foreground."""
    settings = local_settings(get_settings())
    logs = programs.logs_dir(settings)
    logs.mkdir(parents=True, exist_ok=True)
    configure_logging(settings, "run", stream=(logs / "run.log").open("a"))
    signal.signal(signal.SIGTERM, _stop)
    supervisor: Supervisor | None = None
    try:
        check_ports(settings)
        cache = settings.state_path / "cache"
        cache.mkdir(exist_ok=True)
        kafka = kafka_commands(settings, cache)
        redis = stack.redis_command(settings.state_path, settings.redis_port)
        apps = programs.applications(settings)
        supervised: list[Program] = [*programs.infrastructure(settings, kafka, redis), *apps]
        if settings.background_training:
            supervised.append(programs.trainer(settings))
        supervisor = Supervisor(settings.state_path / "supervisor", supervised, stack.REPO_ROOT)
        pid = supervisor.launch(os.environ | to_env(settings))
        pid_file(settings).write_text(json.dumps({"run": os.getpid(), "supervisord": pid}))
        running = Stack(settings, supervisor)
        running.wait_ready([*readiness.kafka_nodes(settings), "redis"], INFRA_READY_TIMEOUT_SECONDS)
        topics = [settings.requests_topic, settings.results_topic, settings.dlq_topic]
        asyncio.run(ensure_settings_topics(settings, topics))
        wait_for_coordinator(settings)
        say(f"topics    {', '.join(topics)} ({settings.kafka_partitions} partitions), consumer group ready")
        # The API and the dashboard need no model: they start while it trains.
        running.start(list(programs.NEED_NO_MODEL))
        first = ensure_model(settings, running.poll)
        # The workers load the model before the MLflow UI starts: the first valuation comes sooner.
        running.wait_ready([p.name for p in apps if p.name != "mlflow"], APP_READY_TIMEOUT_SECONDS)
        running.wait_ready(["mlflow"], APP_READY_TIMEOUT_SECONDS)
        serving = readiness.serving_versions(settings)
        fresh = first is not None and first.state == "finished" and first.mode == "quick"
        background = settings.background_training and fresh
        print(banner(settings, serving, background), flush=True)
        if settings.background_training:
            # Also after a quick model that an earlier run served: its full training never finished.
            supervisor.start(programs.TRAINER)
        watch(running, settings, serving)
    except (KeyboardInterrupt, Stop):
        say("stopping: the applications first, then Kafka and Redis")
    except stack.StackError as error:
        say(str(error), "error")
        raise typer.Exit(1) from None
    finally:
        if supervisor is not None:
            supervisor.shutdown()
            say("stopped")
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
        stack.stop_process(run_pid, timeout=180)
    for name, pid in pids.items():
        if stack.group_alive(pid):
            stack.stop_process_group(pid, timeout=120)
            print(f"stopped {name}")
    path.unlink(missing_ok=True)
    print("stopped")


if __name__ == "__main__":
    cli()
