"""Calls to the valuestream API; every failure becomes an ``ApiError`` with a sentence to show."""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

from dashboard.context import http_client
from schemas.api import ErrorBody, PredictionAccepted, PredictionCreate
from schemas.features import PropertyFeatures
from schemas.messages import PredictionResult
from schemas.registry import ModelPublic

ResultFormat = Literal["csv", "json", "parquet"]


class ApiError(Exception):
    """The API could not do it: unreachable, refused (4xx) or failing (5xx)."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class JobAccepted(BaseModel):
    job_id: str


def _error(response: httpx.Response) -> ApiError:
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ApiError(f"The API answered {response.status_code}: {response.text[:200]}")
    return ApiError(body.message, [f"{d.field}: {d.reason}" for d in body.details])


def _call(base_url: str, method: str, path: str, api_key: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        response = http_client(base_url).request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"The API at {base_url} is not reachable ({type(exc).__name__}); try again shortly.") from exc
    if response.status_code >= 400:
        raise _error(response)
    return response


def submit(
    base_url: str, features: PropertyFeatures, wait: float, api_key: str | None = None
) -> PredictionResult | PredictionAccepted:
    """The result if the API has it within ``wait`` seconds, else the accepted id to poll."""
    body = PredictionCreate(features=features).model_dump(mode="json", exclude_none=True)
    response = _call(base_url, "POST", "/api/v1/predict", api_key, params={"wait": wait}, json=body)
    if response.status_code == 200:
        return PredictionResult.model_validate_json(response.content)
    return PredictionAccepted.model_validate_json(response.content)


def prediction(base_url: str, request_id: str, api_key: str | None = None) -> PredictionResult:
    response = _call(base_url, "GET", f"/api/v1/predictions/{request_id}", api_key)
    return PredictionResult.model_validate_json(response.content)


def upload_job(base_url: str, filename: str, content: bytes, api_key: str | None = None) -> str:
    """Start a file job (CSV or Parquet with ``PropertyFeatures`` columns); returns its id."""
    response = _call(base_url, "POST", "/api/v1/jobs", api_key, files={"file": (filename, content)})
    return JobAccepted.model_validate_json(response.content).job_id


def job_results(base_url: str, job_id: str, fmt: ResultFormat, api_key: str | None = None) -> bytes:
    return _call(base_url, "GET", f"/api/v1/jobs/{job_id}/results", api_key, params={"format": fmt}).content


def model(base_url: str, api_key: str | None = None) -> ModelPublic:
    """The champion as the API describes it, with its intervals' recalibration state."""
    return ModelPublic.model_validate_json(_call(base_url, "GET", "/api/v1/model", api_key).content)
