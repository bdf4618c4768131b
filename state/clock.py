"""Milliseconds since the epoch: the unit of tombstones, feed entry ids and retention cut-offs."""

from __future__ import annotations

import time
from datetime import datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
