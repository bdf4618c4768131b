"""Every error is an ``ErrorBody``: a code, a message, and field details for invalid input."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.metrics import ERRORS, route_of
from jobs.service import JobConflictError, JobNotFoundError, RowNotFoundError
from schemas.api import ErrorBody, FieldError
from state import PartOfJobError, StoreUnavailableError

log = structlog.get_logger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details or []


def error_response(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def _answer(request: Request, status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    ERRORS.labels(route_of(request), str(status), body.code).inc()
    return error_response(status, body, headers)


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [FieldError(field=_field(tuple(e["loc"])), reason=str(e["msg"])) for e in exc.errors()]
    body = ErrorBody(code="validation_error", message="The request is invalid.", details=details)
    return _answer(request, 422, body)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _answer(
        request, exc.status_code, ErrorBody(code=exc.code, message=exc.message, details=exc.details), exc.headers
    )


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return _answer(request, exc.status_code, ErrorBody(code=code, message=str(exc.detail)), exc.headers)


async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Redis is away: nothing was lost, try again shortly (a request already in Kafka was answered 202)."""
    assert isinstance(exc, StoreUnavailableError)
    retry = str(exc.retry_after_seconds)
    body = ErrorBody(code="store_unavailable", message=f"{exc}; retry in {retry} s.")
    return _answer(request, 503, body, {"Retry-After": retry})


DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    JobNotFoundError: (404, "not_found"),
    RowNotFoundError: (404, "row_not_found"),
    JobConflictError: (409, "conflict"),
    PartOfJobError: (409, "part_of_job"),
}


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = DOMAIN_ERRORS[type(exc)]
    return _answer(request, status, ErrorBody(code=code, message=str(exc)))


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return _answer(request, 500, ErrorBody(code="internal_error", message="Something went wrong on our side."))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(StoreUnavailableError, on_store_unavailable)
    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, on_domain_error)
    app.add_exception_handler(Exception, on_unexpected)
