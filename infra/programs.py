"""What ``make run`` runs: one supervised ``Program`` per process, with its command line and log.

Only command lines: nothing here imports a service. Training runs as a process of its own (the
quick first model, then the full one in the background), so the orchestrator never holds
MLflow, scikit-learn or TensorFlow in memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from infra.settings import Settings
from infra.supervision import Program

INFRA_PRIORITY = 10
WORKER_PRIORITY = 100
APP_PRIORITY = 200
TRAINER_PRIORITY = 900
TRAINER = "trainer"
NEED_NO_MODEL = ("api", "dashboard")
"""Started while the first model trains. Not the MLflow UI: it would set up the same new MLflow
database as the training, at the same moment."""
BACKGROUND_NICENESS = 10

MLFLOW_UI_ENV = {
    # The UI's job runner (a `_job_runner` and a pool of `huey_consumer` processes, about 2 GB
    # here) runs MLflow's server-side jobs (GenAI evaluation, trace roll-ups), none of which this
    # project uses; the UI itself, runs and the registry work the same without it.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


def logs_dir(settings: Settings) -> Path:
    return settings.state_path / "logs"


def quick_training_command() -> list[str]:
    """The first model: quick candidates, no year-ahead checks; nothing when a champion is registered."""
    return [sys.executable, "-m", "training", "--quick", "--no-year-ahead", "--if-no-champion"]


def full_training_command() -> list[str]:
    """The full model, at a lower CPU priority than serving; nothing when one is already registered."""
    return ["nice", "-n", str(BACKGROUND_NICENESS), sys.executable, "-m", "training", "--unless-full-model"]


SHADOW = "shadow"
"""The shadow scorer: the variant that did not answer a request scores it too, in a process of its own
that lowers its own CPU priority to the lowest (``python -m consumers --shadow``)."""


def worker_name(index: int) -> str:
    return f"worker{index}"


def infrastructure(settings: Settings, kafka: list[list[str]], redis: list[str]) -> list[Program]:
    """``kafka``: the command of each Kafka node (``kafka``, then ``kafka-2``, ``kafka-3``, ...)."""
    logs = logs_dir(settings)
    retries = settings.restart_retries
    names = ["kafka", *(f"kafka-{i}" for i in range(2, len(kafka) + 1))]
    return [
        *(
            Program(
                name=name,
                command=command,
                priority=INFRA_PRIORITY,
                log=logs / f"{name}.log",
                stop_seconds=60,
                start_retries=retries,
            )
            for name, command in zip(names, kafka, strict=True)
        ),
        Program(name="redis", command=redis, priority=INFRA_PRIORITY, log=logs / "redis.log", start_retries=retries),
    ]


def applications(settings: Settings) -> list[Program]:
    python = sys.executable
    logs = logs_dir(settings)
    retries = settings.restart_retries
    workers = [
        Program(
            name=worker_name(i),
            command=[python, "-m", "consumers", "--index", str(i)],
            priority=WORKER_PRIORITY,
            log=logs / f"{worker_name(i)}.log",
            start_retries=retries,
            stop_seconds=int(settings.worker_flush_seconds) + 10,
        )
        for i in range(settings.workers)
    ]
    shadow = Program(
        name=SHADOW,
        command=[python, "-m", "consumers", "--shadow"],
        priority=WORKER_PRIORITY,
        log=logs / f"{SHADOW}.log",
        start_retries=retries,
    )
    return [
        *workers,
        shadow,
        Program(
            name="api",
            command=[python, "-m", "api"],
            priority=APP_PRIORITY,
            log=logs / "api.log",
            start_retries=retries,
        ),
        Program(
            name="dashboard",
            command=[
                python,
                "-m",
                "streamlit",
                "run",
                "dashboard/app.py",
                "--server.port",
                str(settings.dashboard_port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            priority=APP_PRIORITY,
            log=logs / "dashboard.log",
            start_retries=retries,
        ),
        Program(
            name="mlflow",
            command=[
                python,
                "-m",
                "mlflow",
                "ui",
                "--backend-store-uri",
                settings.tracking_uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.mlflow_ui_port),
                "--workers",
                "1",
            ],
            priority=APP_PRIORITY,
            log=logs / "mlflow.log",
            start_retries=retries,
            env=MLFLOW_UI_ENV,
        ),
    ]


def trainer(settings: Settings) -> Program:
    """The background full training: a one-shot job, never restarted, stopped first."""
    return Program(
        name=TRAINER,
        command=full_training_command(),
        priority=TRAINER_PRIORITY,
        log=logs_dir(settings) / "training-full.log",
        restart=False,
        start_seconds=0,
        stop_seconds=30,
    )
