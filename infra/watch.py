"""Turn successive snapshots of the supervised programs into the lines ``make run`` prints.

A crash, the restart that follows and a program given up on each get one line; a program the
orchestrator itself started or stopped does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.supervision import ProgramState

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Event:
    program: str
    level: Level
    message: str


DOWN = frozenset({"EXITED", "BACKOFF", "STARTING", "FATAL"})


class Watcher:
    """Remembers the last snapshot; ``changes`` says what happened since."""

    def __init__(self, one_shot: frozenset[str] = frozenset()) -> None:
        self.one_shot = one_shot
        self.last: dict[str, ProgramState] = {}
        self.crashed: set[str] = set()

    def changes(self, now: dict[str, ProgramState]) -> list[Event]:
        events = [event for name, state in now.items() if (event := self._change(name, state)) is not None]
        self.last = dict(now)
        return events

    def _change(self, name: str, state: ProgramState) -> Event | None:
        before = self.last.get(name)
        if before is None or name in self.one_shot:
            return None
        if before.state == "RUNNING" and state.state == "RUNNING" and state.pid != before.pid:
            return Event(name, "warning", f"{name} exited unexpectedly and was restarted (pid {state.pid})")
        if before.state == "RUNNING" and state.state in DOWN:
            self.crashed.add(name)
            return Event(name, "warning", f"{name} exited unexpectedly: restarting")
        if name in self.crashed and state.state == "RUNNING" and before.state != "RUNNING":
            self.crashed.discard(name)
            return Event(name, "info", f"{name} is running again (pid {state.pid})")
        if state.state == "BACKOFF" and before.state != "BACKOFF":
            return Event(name, "warning", f"{name} exited right after starting: retrying with backoff")
        if state.state == "FATAL" and before.state != "FATAL":
            return Event(
                name, "error", f"{name} failed to start {state.description.lower()}: given up, see {state.log}"
            )
        return None
