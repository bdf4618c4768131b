"""The lowest CPU priority for a whole process: every thread it has now, and so every thread they start.

Linux applies ``nice`` and scheduling policies per thread, and a process has threads before its
``main`` runs (OpenBLAS starts its pool when numpy is imported), so setting them for the calling
thread alone would leave those at normal priority. ``SCHED_IDLE`` runs a thread only when no normal
thread wants the CPU, and any normal thread that wakes preempts it at once; nice 19 alone still gets
about 1.5 % of a busy core and waits for the end of a time slice.

Lowering one's own priority is a hint, never a reason to stop: a sandbox may refuse ``SCHED_IDLE``
(``EPERM``, or ``EINVAL`` where only ``SCHED_OTHER`` exists), and a thread may end between listing
and setting it. Whatever the platform allows is applied; :func:`policy_name` reads what was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOWEST_NICENESS = 19
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


def policy_name() -> str:
    """The calling thread's scheduling policy: ``idle``, ``other`` or another name."""
    policy = os.sched_getscheduler(0)
    names = {getattr(os, n): n.removeprefix("SCHED_").lower() for n in POLICIES if hasattr(os, n)}
    return names.get(policy, str(policy))
