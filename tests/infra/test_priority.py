"""The shadow scorer's priority: every thread of the process, including those started before ``main``,
and the session group of a process that leads its session.

What a platform allows differs (a sandbox may refuse ``SCHED_IDLE``, a kernel may not group by
session), so a fresh child first asks the kernel directly what it grants, and the process under test
must end with exactly that on every thread. Where the kernel grants ``SCHED_IDLE``, as on Linux
without a sandbox, that means idle. What the priority is for is tested too: a lowered process in a
session of its own, on the same core as a normal one of another session, gets almost none of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infra import priority

GRANTED = """
import json, os
try:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
except OSError:
    pass
try:
    os.setpriority(os.PRIO_PROCESS, 0, 19)
except OSError:
    pass
print(json.dumps({"policy": os.sched_getscheduler(0), "nice": os.getpriority(os.PRIO_PROCESS, 0)}))
"""

LOWERED = """
import json, os, threading
import numpy  # starts OpenBLAS's thread pool before the priority is set
release = threading.Event()
before = threading.Thread(target=release.wait, daemon=True)
before.start()
from infra.priority import lowest_priority, policy_name
lowest_priority()
after = []
started = threading.Thread(target=lambda: after.append(os.sched_getscheduler(0)))
started.start(); started.join()
readings = []
for tid in (int(t) for t in os.listdir("/proc/self/task")):
    try:  # a joined thread's OS thread may still be listed, and end before it is read
        readings.append((os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)))
    except ProcessLookupError:
        pass
print(json.dumps({
    "name": policy_name(),
    "threads": len(readings),
    "policies": sorted({policy for policy, _ in readings}),
    "nices": sorted({nice for _, nice in readings}),
    "new_thread": after[0],
}))
release.set()
"""


SESSION = """
import json, sys
from infra.priority import lower_session_group, session_group_nice
before = session_group_nice()
after = lower_session_group(int(sys.argv[1]))
print(json.dumps({"before": before, "after": after}))
"""

BURN = """
import json, os, sys, time
cpu, start, seconds, lowered = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
os.sched_setaffinity(0, {cpu})
if lowered:
    from infra.priority import lower_session_group, lowest_priority
    lowest_priority()
    lower_session_group(19)
while time.time() < start:
    time.sleep(0.005)
loops, end = 0, start + seconds
while time.time() < end:
    loops += 1
print(json.dumps({"loops": loops}))
"""
BURN_SECONDS = 1.5


def run_child(code: str, *args: str, own_session: bool = False) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, start_new_session=own_session
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(autouse=True)
def this_session_untouched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process calls never lower the test session's own group, whoever leads it."""
    monkeypatch.setattr(priority, "AUTOGROUP", tmp_path / "autogroup")


def test_every_thread_gets_the_lowest_priority_the_kernel_grants_and_new_threads_inherit_it() -> None:
    # Child processes: the test session itself keeps its priority.
    granted = run_child(GRANTED)
    seen = run_child(LOWERED)
    assert seen["threads"] >= 2  # the thread started before, at least
    assert seen["policies"] == [granted["policy"]]
    assert seen["nices"] == [granted["nice"]]
    assert seen["new_thread"] == granted["policy"]
    expected_name = "idle" if granted["policy"] == os.SCHED_IDLE else "other"
    assert seen["name"] == expected_name


class FakeKernel:
    """``os``'s priority calls for a few threads, one of which may end or be refused."""

    def __init__(self, refuse_idle: OSError | None = None, ended: int | None = None) -> None:
        self.refuse_idle = refuse_idle
        self.ended = ended
        self.nice: dict[int, int] = {}
        self.idle: set[int] = set()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
        monkeypatch.setattr(os, "setpriority", self.setpriority)
        monkeypatch.setattr(os, "sched_setscheduler", self.sched_setscheduler)
        return self

    def setpriority(self, _which: int, tid: int, value: int) -> None:
        if tid == self.ended:
            raise ProcessLookupError(3, "No such process")
        self.nice[tid] = value

    def sched_setscheduler(self, tid: int, policy: int, _param: object) -> None:
        if tid == self.ended:
            raise ProcessLookupError(3, "No such process")
        if self.refuse_idle is not None:
            raise self.refuse_idle
        assert policy == os.SCHED_IDLE
        self.idle.add(tid)


@pytest.fixture
def three_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[int]:
    tids = [101, 102, 103]
    for tid in tids:
        (tmp_path / str(tid)).mkdir()
    monkeypatch.setattr(priority, "Path", lambda _path: tmp_path)
    return tids


@pytest.mark.parametrize(
    "refusal", [PermissionError(1, "Operation not permitted"), OSError(22, "Invalid argument")], ids=["EPERM", "EINVAL"]
)
def test_a_refused_idle_policy_leaves_nice_19_on_every_thread(
    monkeypatch: pytest.MonkeyPatch, three_threads: list[int], refusal: OSError
) -> None:
    kernel = FakeKernel(refuse_idle=refusal).install(monkeypatch)
    priority.lowest_priority()
    assert kernel.nice == dict.fromkeys(three_threads, priority.LOWEST_NICENESS)
    assert kernel.idle == set()


def test_a_thread_that_ends_meanwhile_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, three_threads: list[int]
) -> None:
    kernel = FakeKernel(ended=three_threads[1]).install(monkeypatch)
    priority.lowest_priority()
    alive = {three_threads[0], three_threads[2]}
    assert kernel.nice == dict.fromkeys(alive, priority.LOWEST_NICENESS)
    assert kernel.idle == alive


def test_a_session_leader_lowers_its_session_group_and_a_process_in_another_session_leaves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = run_child(SESSION, "19", own_session=True)
    kept = run_child(SESSION, "0", own_session=True)  # 0: the setting that leaves the group as it is
    shared = run_child(SESSION, "19")
    if own["before"] is None:  # this kernel does not group by session: nothing to lower
        assert own["after"] is None
        assert shared["after"] is None
        return
    assert own["after"] == priority.LOWEST_NICENESS
    assert kept["after"] == kept["before"] == 0  # a new session's group starts at 0
    assert shared["after"] == shared["before"]  # the test session's group, as it was
    monkeypatch.undo()  # read this test session's own group (never written here)
    assert shared["before"] == priority.session_group_nice()  # None in the root group, as in the first session


def test_a_process_in_the_root_group_reads_no_session_group() -> None:
    # The first session's processes (a CI runner's, for one) are in the root group: the file is empty.
    priority.AUTOGROUP.write_text("")  # the temporary file this_session_untouched points the module at
    assert priority.session_group_nice() is None
    priority.AUTOGROUP.write_text("/autogroup-7 nice 19\n")
    assert priority.session_group_nice() == 19


def test_a_lowered_process_in_its_own_session_gets_almost_none_of_a_core_a_normal_process_wants() -> None:
    # Both in sessions of their own, as make run, the tests and the benchmarks start the shadow scorer.
    cpu = max(os.sched_getaffinity(0))
    start = time.time() + 2.0  # both children started and pinned by then
    children = {
        lowered: subprocess.Popen(
            [sys.executable, "-c", BURN, str(cpu), str(start), str(BURN_SECONDS), "1" if lowered else "0"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for lowered in (False, True)
    }
    loops = {lowered: json.loads(child.communicate(timeout=120)[0])["loops"] for lowered, child in children.items()}
    assert loops[False] > 0
    # Without the session group lowered, the two shared the core about evenly.
    assert loops[True] < 0.2 * loops[False], loops
