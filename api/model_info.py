"""The serving champion as the registry describes it (with the challenger and the log of alias moves),
cached for a short time, so ``GET /model`` costs the registry one call per period (MLflow is imported
on first use, in ``registry``). At most one lookup runs at a time: a caller that stops waiting (a
``/metrics`` scrape gives the registry two seconds) leaves it running for the next caller to join,
instead of leaving a thread behind and starting another."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from infra.settings import Settings
from registry.client import client_for
from registry.rollout import describe_rollout
from registry.versions import describe, guarded
from schemas.registry import ModelPublic

if TYPE_CHECKING:
    from mlflow import MlflowClient

CACHE_SECONDS = 15.0


class ModelCatalog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: MlflowClient | None = None
        self._cached: tuple[float, ModelPublic] | None = None
        self._pending: asyncio.Future[ModelPublic] | None = None

    def _lookup(self) -> ModelPublic:
        if self._client is None:
            self._client = client_for(self.settings.tracking_uri)
        client = self._client
        return guarded(
            self.settings.tracking_uri,
            lambda: describe(client, self.settings).model_copy(
                update={"rollout": describe_rollout(client, self.settings)}
            ),
        )

    async def champion(self) -> ModelPublic:
        """The serving version; ``RegistryError`` (``NoVersionError`` when none holds the alias) if unknown."""
        if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._refresh())
            self._pending.add_done_callback(_retrieve)
        return await asyncio.shield(self._pending)

    async def _refresh(self) -> ModelPublic:
        model = await asyncio.to_thread(self._lookup)
        self._cached = (time.monotonic(), model)
        return model


def _retrieve(lookup: asyncio.Future[ModelPublic]) -> None:
    """Marks a failed lookup's error as seen: every caller may have stopped waiting for it."""
    if not lookup.cancelled():
        lookup.exception()
