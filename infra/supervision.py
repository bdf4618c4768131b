"""The local stack's process supervisor: supervisord (the ``supervisor`` package), driven over XML-RPC.

``make run`` describes each long-running process as a ``Program``; this module renders them
into a supervisord configuration under the state folder, runs supervisord in the foreground of
its own session, and starts, stops and reads the programs over its UNIX socket.

What supervisord gives us, and why it is the supervisor here: a process that dies after it
was up is restarted at once (``autorestart``); one that dies again before ``startsecs`` is
retried with a delay that grows by a second each time, up to ``startretries`` tries, then left
``FATAL`` (compose's ``restart:`` backs off the same way, doubling instead); no process is
stopped because another died; each child runs in its own process group, so a Ctrl-C in the
terminal reaches only ``make run``, which then stops everything in the reverse order of
``priority`` (the apps first, Kafka and Redis last). It is pure Python, has no dependencies and
has been maintained since 2004.
"""

from __future__ import annotations

import http.client
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from supervisor.xmlrpc import SupervisorTransport

ProgramStateName = Literal["STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"]


RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)


class SupervisionError(RuntimeError):
    """supervisord could not be started or did not answer."""


class Program(BaseModel):
    """One process under supervision; started by ``Supervisor.start`` (never by supervisord itself)."""

    name: str
    command: list[str]
    priority: int = Field(description="Lower starts first and stops last.")
    log: Path = Field(description="Where its standard output and error go.")
    restart: bool = Field(default=True, description="Restart it whenever it exits (False: a one-shot job).")
    start_seconds: int = Field(default=5, ge=0, description="Up this long counts as started.")
    start_retries: int = Field(default=10, ge=0, description="Quick failures in a row before giving up.")
    stop_seconds: int = Field(default=20, ge=1, description="Wait after SIGTERM before SIGKILL.")
    env: dict[str, str] = Field(default_factory=dict, description="Added to supervisord's own environment.")


class ProgramState(BaseModel):
    name: str
    state: ProgramStateName
    pid: int
    exitstatus: int
    description: str
    log: str


def _escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in its values: a literal percent sign is doubled."""
    return value.replace("%", "%%")


def render_config(programs: list[Program], home: Path, directory: Path) -> str:
    """The supervisord configuration: its socket, pid file and log under ``home``, one section per program."""
    lines = [
        "[unix_http_server]",
        f"file={_escape(str(socket_path(home)))}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={_escape(str(home / 'supervisord.log'))}",
        f"pidfile={_escape(str(home / 'supervisord.pid'))}",
        f"childlogdir={_escape(str(home))}",
        "nodaemon=true",
        "silent=true",
        "loglevel=info",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(socket_path(home)))}",
    ]
    for program in programs:
        lines += [
            "",
            f"[program:{program.name}]",
            f"command={_escape(shlex.join(program.command))}",
            f"directory={_escape(str(directory))}",
            f"priority={program.priority}",
            "autostart=false",
            f"autorestart={'true' if program.restart else 'false'}",
            f"startsecs={program.start_seconds}",
            f"startretries={program.start_retries}",
            "stopsignal=TERM",
            f"stopwaitsecs={program.stop_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_escape(str(program.log))}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if program.env:
            pairs = ",".join(f'{key}="{_escape(value)}"' for key, value in program.env.items())
            lines.append(f"environment={pairs}")
    return "\n".join(lines) + "\n"


def socket_path(home: Path) -> Path:
    return home / "supervisor.sock"


class Supervisor:
    """A supervisord of our own (its own session, so a terminal's Ctrl-C does not reach it)."""

    def __init__(self, home: Path, programs: list[Program], directory: Path) -> None:
        self.home = home
        self.programs = {program.name: program for program in programs}
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def _rpc(self) -> Any:
        """A fresh client per call: a connection left half-used by a failed call is never reused."""
        transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path(self.home)}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    @property
    def config(self) -> Path:
        return self.home / "supervisord.conf"

    @property
    def log(self) -> Path:
        return self.home / "supervisord.log"

    def launch(self, env: dict[str, str], timeout: float = 30.0) -> int:
        """Write the configuration, start supervisord and wait for its socket; returns its pid."""
        self.home.mkdir(parents=True, exist_ok=True)
        for program in self.programs.values():
            program.log.parent.mkdir(parents=True, exist_ok=True)
        socket_path(self.home).unlink(missing_ok=True)
        self.config.write_text(render_config(list(self.programs.values()), self.home, self.directory))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.config)],
            cwd=self.directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "supervisord.stderr").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = (self.home / "supervisord.stderr").read_text(errors="replace")[-2000:]
                raise SupervisionError(f"supervisord exited with {self.process.returncode}: {stderr}")
            try:
                if self._rpc().supervisor.getState()["statename"] == "RUNNING":
                    return self.process.pid
            except RPC_ERRORS:
                pass
            time.sleep(0.1)
        raise SupervisionError(f"supervisord did not answer on {socket_path(self.home)} within {timeout:.0f} s")

    def start(self, name: str) -> None:
        """Start a program without waiting for it (its readiness is the caller's to check)."""
        try:
            self._rpc().supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise

    def states(self) -> dict[str, ProgramState]:
        return {
            info["name"]: ProgramState(
                name=info["name"],
                state=info["statename"],
                pid=info["pid"],
                exitstatus=info["exitstatus"],
                description=info["description"],
                log=info["stdout_logfile"],
            )
            for info in self._rpc().supervisor.getAllProcessInfo()
        }

    def state(self, name: str) -> ProgramState:
        return self.states()[name]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def shutdown(self, timeout: float = 120.0) -> None:
        """Stop every program (the highest priority number first), then supervisord itself."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self._rpc().supervisor.shutdown()
        except RPC_ERRORS:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
