"""API keys and per-key rate limits.

Keys are off when ``settings.api_keys`` is empty (the local default); every caller is then
the owner ``anonymous``. When keys are configured, a request must carry ``X-API-Key``; the key
is hashed with the salt and compared in constant time with every configured hash, and the
key's id becomes the owner of what it creates. Rate limits (``limits``, fixed window, counters
in Redis so API replicas share them) apply per key id, or per client address without keys.

``python -m api.security KEY_ID KEY`` prints the ``key_id:hash`` pair to configure.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from api.errors import ApiError
from infra.settings import Settings

log = structlog.get_logger(__name__)
ANONYMOUS = "anonymous"
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Required when keys are configured.")


def hash_key(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


class KeyRing:
    """The configured key hashes; ``identify`` returns the key id of a presented key, or None."""

    def __init__(self, salt: str, spec: str) -> None:
        self.salt = salt
        self.hashes: list[tuple[str, str]] = []
        for pair in filter(None, (p.strip() for p in spec.split(","))):
            key_id, _, digest = pair.partition(":")
            if not key_id or len(digest) != 64:
                raise ValueError("api_keys must be comma-separated 'key_id:sha256hex' pairs")
            self.hashes.append((key_id, digest.lower()))

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    def identify(self, key: str) -> str | None:
        presented = hash_key(self.salt, key)
        found = None
        for key_id, digest in self.hashes:  # no early exit: the time taken does not say which key matched
            if hmac.compare_digest(presented, digest):
                found = key_id
        return found


class RateLimits:
    def __init__(self, settings: Settings, namespace: str) -> None:
        self.items: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limited else []
        self.storage = RedisStorage(
            "async+" + settings.redis_url, implementation="redispy", key_prefix=namespace, socket_timeout=2.0
        )
        self.limiter = FixedWindowRateLimiter(self.storage)

    async def check(self, identity: str) -> None:
        """Count one hit; 429 with ``Retry-After`` when a window is used up. Fails open if Redis is away."""
        for item in self.items:
            try:
                if await self.limiter.hit(item, identity):
                    continue
                stats = await self.limiter.get_window_stats(item, identity)
            except (RedisError, OSError) as exc:
                log.warning("rate_limit_unavailable", error=type(exc).__name__)
                return
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            raise ApiError(
                429, "rate_limited", f"rate limit {item} exceeded; retry in {retry} s", {"Retry-After": str(retry)}
            )


@dataclass(frozen=True)
class Access:
    keys: KeyRing
    limits: RateLimits


async def authorize(request: Request, api_key: Annotated[str | None, Depends(API_KEY_HEADER)]) -> str:
    """The caller's owner id (key id, or ``anonymous`` without keys), after the rate limit."""
    access: Access = request.app.state.access
    owner = ANONYMOUS
    if access.keys.enabled:
        key_id = access.keys.identify(api_key) if api_key else None
        if key_id is None:
            raise ApiError(401, "unauthorized", "a valid X-API-Key header is required", {"WWW-Authenticate": "ApiKey"})
        owner = key_id
    identity = owner if access.keys.enabled else (request.client.host if request.client else "unknown")
    await access.limits.check(identity)
    return owner


OwnerDep = Annotated[str, Depends(authorize)]


def main(argv: list[str]) -> None:
    from infra.settings import get_settings

    if len(argv) != 2:
        raise SystemExit("usage: python -m api.security KEY_ID KEY")
    key_id, key = argv
    print(f"{key_id}:{hash_key(get_settings().api_key_salt.get_secret_value(), key)}")


if __name__ == "__main__":
    main(sys.argv[1:])
