"""The served OpenAPI document: what FastAPI derives from the routes, plus what only the app knows.

FastAPI writes one document from the route declarations. Three things it cannot know are
added here, once, when the document is first asked for:

- whether API keys are configured: without keys the ``X-API-Key`` scheme is optional
  (``security: [{}, {scheme: []}]``), so no client is told a key is required that the server
  would ignore;
- that every operation with a body also answers ``400`` (a body that is not UTF-8 JSON, or a
  broken multipart message) and ``413`` (larger than the configured caps, see ``api.limits``);
- the OpenAPI links between operations (``POST /predict`` → ``GET /predictions/{id}``, a job's
  creation → its progress, results and erasure, a scored prediction → ``POST /feedback``),
  which Swagger UI shows and stateful clients and fuzzers follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

API = "/api/v1"
ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
BODY_ERRORS: dict[str, str] = {
    "400": "The body could not be read: not UTF-8 JSON, or a broken multipart message.",
    "413": "The body is larger than the server accepts.",
}

PREDICTION_ID = {"request_id": "$response.body#/request_id"}
JOB_ID = {"job_id": "$response.body#/job_id"}
PREDICTION_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetPrediction": ("get", "/predictions/{request_id}", {"parameters": PREDICTION_ID}),
    "DeletePrediction": ("delete", "/predictions/{request_id}", {"parameters": PREDICTION_ID}),
}
FEEDBACK_LINK: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GiveFeedback": ("post", "/feedback", {"requestBody": {"request_id": "$response.body#/request_id"}}),
}
JOB_LINKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GetJob": ("get", "/jobs/{job_id}", {"parameters": JOB_ID}),
    "GetJobResults": ("get", "/jobs/{job_id}/results", {"parameters": JOB_ID}),
    "DeleteJob": ("delete", "/jobs/{job_id}", {"parameters": JOB_ID}),
}
LINKS: list[tuple[str, str, str, dict[str, tuple[str, str, dict[str, Any]]]]] = [
    # (method, path, status, links): the links of one response of one operation
    ("post", "/predict", "202", PREDICTION_LINKS),
    ("post", "/predict", "200", PREDICTION_LINKS | FEEDBACK_LINK),
    ("get", "/predictions/{request_id}", "200", FEEDBACK_LINK),
    ("post", "/batch", "202", JOB_LINKS),
    ("post", "/jobs", "202", JOB_LINKS),
]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in document["paths"].values() for method, op in item.items() if method in METHODS]


def optional_security(document: dict[str, Any]) -> None:
    """Keys off: every secured operation also admits no credentials at all."""
    for operation in _operations(document):
        requirements = operation.get("security")
        if requirements and {} not in requirements:
            operation["security"] = [{}, *requirements]


def body_errors(document: dict[str, Any]) -> None:
    for operation in _operations(document):
        if "requestBody" not in operation:
            continue
        responses = operation["responses"]
        for status, description in BODY_ERRORS.items():
            responses.setdefault(status, {"description": description, "content": ERROR_BODY})


def links(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for method, path, status, targets in LINKS:
        response = paths[API + path][method]["responses"][status]
        response["links"] = {
            name: {"operationId": paths[API + target][verb]["operationId"], **fields}
            for name, (verb, target, fields) in targets.items()
        }


def contract(app: FastAPI, keys_enabled: bool) -> Callable[[], dict[str, Any]]:
    """A replacement for ``app.openapi`` that completes FastAPI's document once and caches it."""
    derive = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = derive()
            if not keys_enabled:
                optional_security(document)
            body_errors(document)
            links(document)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi
