"""Keep the cyclic garbage collector off what a long-running process loaded at startup."""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Exempt what is alive now (libraries, a loaded model) from the cyclic garbage collector.

    With hundreds of thousands of long-lived objects, each full collection stalls a process for
    60-300 ms here, every few thousand requests: the tail of the end-to-end latency. Call it once
    startup is done (the worker: after each model load, so the previous model's cycles are
    collected first).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
