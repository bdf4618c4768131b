"""API keys and per-key rate limits.

Keys are off when ``settings.api_keys`` is empty (the local default); every caller is then
the owner ``anonymous``. When keys are configured, a request must carry ``X-API-Key``; the key
is hashed with the salt and compared in constant time with every configured hash
(``infra.api_keys``), and the key's id becomes the owner of what it creates. Rate limits
(``limits``, fixed window, counters in Redis so API replicas share them) apply per key id, or
per client address without keys; they fail open while Redis is away.

``python -m api.security KEY_ID KEY`` prints the ``key_id:hash`` pair to configure.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse_many

from api.errors import ApiError
from infra import api_keys
from infra.api_keys import KeyRing
from infra.settings import Settings
from state import ANONYMOUS, StoreUnavailableError, Viewer
from state.limits import RateLimitCounters

log = structlog.get_logger(__name__)
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Required when keys are configured.")


class RateLimits:
    def __init__(self, settings: Settings, counters: RateLimitCounters) -> None:
        self.items: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limited else []
        self.counters = counters

    async def check(self, identity: str) -> None:
        """Count one hit; 429 with ``Retry-After`` when a window is used up."""
        for item in self.items:
            try:
                retry = await self.counters.hit(item, identity)
            except StoreUnavailableError as exc:
                log.warning("rate_limit_unavailable", error=str(exc))
                return
            if retry is not None:
                raise ApiError(
                    429, "rate_limited", f"rate limit {item} exceeded; retry in {retry} s", {"Retry-After": str(retry)}
                )


@dataclass(frozen=True)
class Access:
    keys: KeyRing
    limits: RateLimits
    operator_key_id: str = ""


async def authorize(request: Request, api_key: Annotated[str | None, Depends(API_KEY_HEADER)]) -> Viewer:
    """The caller (key id, or ``anonymous`` without keys), after the rate limit."""
    access: Access = request.app.state.access
    owner = ANONYMOUS
    if access.keys.enabled:
        key_id = access.keys.identify(api_key) if api_key else None
        if key_id is None:
            raise ApiError(401, "unauthorized", "a valid X-API-Key header is required", {"WWW-Authenticate": "ApiKey"})
        owner = key_id
    identity = owner if access.keys.enabled else (request.client.host if request.client else "unknown")
    await access.limits.check(identity)
    return Viewer.of(owner, access.keys.enabled, access.operator_key_id)


ViewerDep = Annotated[Viewer, Depends(authorize)]

if __name__ == "__main__":
    api_keys.main(sys.argv[1:])
