"""HTTP metrics: request count and latency by route, method and status."""

from __future__ import annotations

import time

from fastapi import Request
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("valuestream_api_requests_total", "HTTP requests.", ["route", "method", "status"])
LATENCY = Histogram(
    "valuestream_api_request_seconds",
    "HTTP request latency.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def route_of(request: Request) -> str:
    return _route(request.scope)


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class Observe:
    """Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware``, which runs each call in a task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route(scope)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - started)


ERRORS = Counter(
    "valuestream_api_errors_total", "Error answers, by route, status and code.", ["route", "status", "code"]
)
