"""Busy cores for tests that must hold on a loaded machine: races hide on an idle one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SPIN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_cores(count: int | None = None, seconds: float = 900.0) -> Iterator[None]:
    """``count`` processes (default: one per core) spinning until the block ends, or ``seconds`` at most."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)]) for _ in range(count or os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait(timeout=10)
