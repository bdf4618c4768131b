"""The shadow scorer's priority: every thread of the process, including those started before ``main``."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, os, threading
import numpy  # starts OpenBLAS's thread pool before the priority is set
before = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
before.start()
from infra.priority import lowest_priority
policy = lowest_priority()
after = []
started = threading.Thread(target=lambda: after.append(os.sched_getscheduler(0)))
started.start(); started.join()
tids = [int(t) for t in os.listdir("/proc/self/task")]
print(json.dumps({
    "policy": policy,
    "threads": len(tids),
    "policies": sorted({os.sched_getscheduler(t) for t in tids}),
    "nices": sorted({os.getpriority(os.PRIO_PROCESS, t) for t in tids}),
    "new_thread": after[0],
    "idle": os.SCHED_IDLE,
}))
"""


def test_every_thread_runs_at_the_lowest_priority_and_new_threads_inherit_it() -> None:
    # A child process: the test session itself keeps its priority.
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out)
    assert seen["threads"] >= 2  # the thread started before, at least
    assert seen["policy"] == "idle"
    assert seen["policies"] == [seen["idle"]]
    assert seen["nices"] == [19]
    assert seen["new_thread"] == seen["idle"]
