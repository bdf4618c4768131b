"""The pieces of ``make run`` that need no service: supervisor configuration, crash reporting, training record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.supervision import Program, ProgramState, render_config
from infra.training_status import read_status
from infra.watch import Watcher
from tests.conftest import REPO
from training.progress import Progress


def state(name: str, status: str, pid: int) -> ProgramState:
    return ProgramState(name=name, state=status, pid=pid, exitstatus=0, description="", log=f"/logs/{name}.log")  # type: ignore[arg-type]


def test_config_escapes_percent_signs_and_restarts_only_services(tmp_path: Path) -> None:
    service = Program(name="api", command=["python", "-c", "print('100%')"], priority=200, log=tmp_path / "api.log")
    job = Program(name="trainer", command=["true"], priority=900, log=tmp_path / "t.log", restart=False)
    text = render_config([service, job], tmp_path, tmp_path)
    assert "command=python -c 'print('\"'\"'100%%'\"'\"')'" in text
    api, trainer = text.split("[program:api]")[1].split("[program:trainer]")
    assert "autorestart=true" in api
    assert "autorestart=false" in trainer
    assert "autostart=false" in api
    assert "autostart=false" in trainer


def test_watcher_reports_a_crash_then_the_restart_but_not_a_one_shot_job() -> None:
    watcher = Watcher(one_shot=frozenset({"trainer"}))
    assert (
        watcher.changes({"worker0": state("worker0", "RUNNING", 10), "trainer": state("trainer", "RUNNING", 11)}) == []
    )
    crashed = watcher.changes({"worker0": state("worker0", "STARTING", 12), "trainer": state("trainer", "EXITED", 0)})
    assert [(e.program, e.level) for e in crashed] == [("worker0", "warning")]
    back = watcher.changes({"worker0": state("worker0", "RUNNING", 12), "trainer": state("trainer", "EXITED", 0)})
    assert [e.message for e in back] == ["worker0 is running again (pid 12)"]
    assert watcher.changes({"worker0": state("worker0", "RUNNING", 12)}) == []


def test_watcher_reports_a_restart_it_did_not_see_happen_and_a_program_given_up_on() -> None:
    watcher = Watcher()
    watcher.changes({"api": state("api", "RUNNING", 10), "dashboard": state("dashboard", "BACKOFF", 0)})
    events = watcher.changes({"api": state("api", "RUNNING", 20), "dashboard": state("dashboard", "FATAL", 0)})
    assert [(e.program, e.level) for e in events] == [("api", "warning"), ("dashboard", "error")]
    assert "/logs/dashboard.log" in events[1].message


def test_progress_record_moves_stage_by_stage_and_ends(tmp_path: Path) -> None:
    path = tmp_path / "training" / "status.json"
    progress = Progress(path, "full")
    progress.stage("loading data")
    progress.plan(3)
    progress.stage("cross-validating")
    running = read_status(path)
    assert running is not None
    assert (running.state, running.stage, running.step, running.steps) == ("running", "cross-validating", 1, 3)
    progress.finished("7", True, 0.0844)
    done = read_status(path)
    assert done is not None
    assert (done.state, done.version, done.promoted, done.fraction, done.pid) == ("finished", "7", True, 1.0, None)
    assert "version 7, promoted to champion" in done.summary()


def test_an_interrupted_training_says_it_was_stopped(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    Progress(path, "full").failed(KeyboardInterrupt())
    status = read_status(path)
    assert status is not None
    assert status.state == "stopped"
    assert read_status(tmp_path / "missing.json") is None


def test_the_orchestrator_imports_no_model_code() -> None:
    """``make run`` spawns training as processes of its own: the orchestrator holds none of it."""
    heavy = ("mlflow", "training", "tensorflow", "sklearn", "xgboost", "pandas", "consumers", "api", "streamlit")
    probe = f"import sys, infra.run; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert found.stdout.strip() == "[]"


def test_make_run_with_three_brokers_describes_a_replicated_cluster(tmp_path: Path) -> None:
    from infra import programs
    from infra.run import kafka_commands, local_settings
    from infra.settings import Settings
    from tests.conftest import CACHE

    settings = local_settings(Settings(kafka_brokers=3, kafka_port=19092, state_dir=tmp_path))
    assert settings.kafka_servers == ["127.0.0.1:19092", "127.0.0.1:19093", "127.0.0.1:19094"]
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)
    CACHE.mkdir(parents=True, exist_ok=True)
    commands = kafka_commands(settings, CACHE)
    names = [p.name for p in programs.infrastructure(settings, commands, ["redis-server"])]
    assert names == ["kafka", "kafka-2", "kafka-3", "redis"]
    voters = "controller.quorum.voters=1@127.0.0.1:20092,2@127.0.0.1:20093,3@127.0.0.1:20094"
    for node in (1, 2, 3):
        config = (tmp_path / "cluster" / f"kafka-{node}" / "server.properties").read_text()
        assert voters in config
        assert f"node.id={node}\n" in config
        assert "offsets.topic.replication.factor=3" in config
        assert "transaction.state.log.min.isr=2" in config
        assert (tmp_path / "cluster" / f"kafka-{node}" / "data" / "meta.properties").exists()
    assert local_settings(Settings(state_dir=tmp_path)).kafka_replication_factor == 1  # one broker by default
