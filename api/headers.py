"""Request headers shared by several routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string; a retry with the same key returns the first answer, never a second job.",
    ),
]
