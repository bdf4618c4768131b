"""The lowest CPU priority for a whole process: every thread it has now, and so every thread they start.

Linux applies ``nice`` and scheduling policies per thread, and a process has threads before its
``main`` runs (OpenBLAS starts its pool when numpy is imported), so setting them for the calling
thread alone would leave those at normal priority. ``SCHED_IDLE`` runs a thread only when no normal
thread wants the CPU, and any normal thread that wakes preempts it at once; nice 19 alone still gets
about 1.5 % of a busy core and waits for the end of a time slice.

A thread's priority only ranks it against the threads of its own group, though. Where the kernel
groups tasks by session (``CONFIG_SCHED_AUTOGROUP``, on by default in most Linux distributions, for
tasks outside any CPU cgroup), each session is one group with the weight of a nice-0 task, whatever
its tasks' priorities: a ``SCHED_IDLE`` process in a session of its own took 49 % of a core shared
with a normal process of another session, on this project's 2-core machine. So a process that leads
its own session (as ``make run``, the tests and the benchmarks start every process) can also lower
its session group (:func:`lower_session_group`, ``/proc/self/autogroup``); at nice 19 it took 1.6 %.
The shadow scorer does so once its models are loaded, not before: a group at nice 19 on a machine
that other work keeps busy gets too little CPU to load them at all, while threads at idle priority
inside a normal group still load them on their group's share. A process in someone else's session (a
shell's) leaves that group alone: lowering it would lower the shell and everything else it runs. In a
container, the container's CPU weight plays that part (``cpu_shares`` in ``docker-compose.yml``, the
CPU request in ``deploy/k8s/shadow.yaml``).

Lowering one's own priority is a hint, never a reason to stop: a sandbox may refuse ``SCHED_IDLE``
(``EPERM``, or ``EINVAL`` where only ``SCHED_OTHER`` exists), a kernel may have no session groups,
and a thread may end between listing and setting it. Whatever the platform allows is applied;
:func:`policy_name` and :func:`session_group_nice` read what was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOWEST_NICENESS = 19
AUTOGROUP = Path("/proc/self/autogroup")
POLICIES = ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE", "SCHED_FIFO", "SCHED_RR")


def lowest_priority() -> None:
    """Nice 19 and, where the platform allows it, ``SCHED_IDLE`` for every thread of this process."""
    idle = getattr(os, "SCHED_IDLE", None)
    threads = Path("/proc/self/task")
    tids = [int(t.name) for t in threads.iterdir()] if threads.is_dir() else [0]
    for tid in tids:
        with contextlib.suppress(OSError):  # the thread ended since the listing, or a sandbox refuses
            os.setpriority(os.PRIO_PROCESS, tid, LOWEST_NICENESS)
        if idle is None:
            continue
        try:
            os.sched_setscheduler(tid, idle, os.sched_param(0))
        except ProcessLookupError:
            pass
        except OSError:  # refused by this platform: nice 19 alone from here on
            idle = None


def lower_session_group(nice: int) -> int | None:
    """Set this process's session group to ``nice`` when the process leads its session and ``nice`` is
    above 0; return the group's nice as it then is (None without session groups)."""
    if nice > 0 and os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # no session groups in this kernel, or refused
            AUTOGROUP.write_text(str(min(nice, LOWEST_NICENESS)))
    return session_group_nice()


def session_group_nice() -> int | None:
    """The nice value of this process's session group (``/autogroup-N nice K``); None without one.

    The file is empty for a process in the root group: the first session's processes (init's, and a
    CI runner's that never started a session) are in no session group."""
    try:
        return int(AUTOGROUP.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def policy_name() -> str:
    """The calling thread's scheduling policy: ``idle``, ``other`` or another name."""
    policy = os.sched_getscheduler(0)
    names = {getattr(os, n): n.removeprefix("SCHED_").lower() for n in POLICIES if hasattr(os, n)}
    return names.get(policy, str(policy))
