"""``python -m consumers.asyncapi``: write the Kafka contract as AsyncAPI 3 (docs/asyncapi.json and .yaml).

FastStream generates the document from the worker's broker. Additions it cannot infer: the
request payload (the worker takes raw bytes, so that bad input reaches the dead-letter topic,
while the contract is a ``PredictionRequest`` or a bulk ``RowChunk``), the two forms of a result
(``PredictionResult``, or a bulk ``ChunkResult``) and the headers of requests and dead letters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from consumers.app import build_worker
from consumers.model import ModelHolder
from infra.kafka import create_broker
from infra.settings import Settings
from schemas.chunks import ChunkResult, RowChunk
from schemas.messages import PredictionRequest, PredictionResult
from schemas.topics import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    REPLY_TO_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
)
from state import State

DOCS = Path(__file__).resolve().parent.parent / "docs"
REQUEST_MESSAGE = "score-requests:SubscribeMessage"
RESULT_MESSAGE = "prediction-results:Message"
DLQ_MESSAGE = "dead-letters:Message"


def _one_of(components: dict[str, Any], *models: type[BaseModel]) -> dict[str, Any]:
    """A payload that is one of ``models``, each schema (and its definitions) among the components."""
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components["schemas"].update(schema.pop("$defs", {}))
        components["schemas"][model.__name__] = schema
    return {"oneOf": [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]}


def _headers(properties: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": text} for name, text in properties.items()},
    }


def document(settings: Settings) -> dict[str, Any]:
    broker = create_broker(settings, client_id="asyncapi")
    build_worker(settings, broker, ModelHolder(settings), State.connect(settings))  # connects lazily: never here
    spec: dict[str, Any] = (
        AsyncAPI(
            broker,
            title="valuestream Kafka contract",
            version="1.0.0",
            description=(
                "Prediction requests in, results and dead letters out. JSON values (UTF-8). A single request "
                "(PredictionRequest, key = request_id) is answered by one PredictionResult (same key). A bulk "
                "chunk (RowChunk: up to 1,000 rows of one file job, one object per row or one array per field, "
                "key = <job_id>:c<chunk>) is answered by one "
                "ChunkResult (same key) with every row's compact answer, invalid rows failed one by one. "
                "At-least-once: a worker commits offsets only after a batch's results are in Redis and on "
                "predictions.results, so a result may be delivered twice; a chunk answered twice counts once."
            ),
        )
        .to_specification()
        .to_jsonable()
    )
    components = spec["components"]
    message = components["messages"][REQUEST_MESSAGE]
    message["payload"] = _one_of(components, PredictionRequest, RowChunk)
    components["schemas"].pop("score-requests:Message:Payload", None)
    components["messages"][RESULT_MESSAGE]["payload"] = _one_of(components, PredictionResult, ChunkResult)
    message["headers"] = _headers({REPLY_TO_HEADER: "Optional topic that also receives this request's result."})
    components["messages"][DLQ_MESSAGE]["headers"] = _headers(
        {
            ERROR_CODE_HEADER: "not_json | invalid_request | invalid_chunk",
            ERROR_HEADER: "Readable reason, e.g. 'features.gr_liv_area: Input should be greater than or equal to 200'.",
            SOURCE_TOPIC_HEADER: "Topic the message was read from.",
            SOURCE_PARTITION_HEADER: "Its partition.",
            SOURCE_OFFSET_HEADER: "Its offset.",
        }
    )
    return _stable(spec)


def _stable(spec: dict[str, Any]) -> dict[str, Any]:
    """Channels, operations, messages and schemas by name: FastStream's order varies from run to run."""
    for section in (spec, spec["components"]):
        for name in ("channels", "operations", "messages", "schemas"):
            if name in section:
                section[name] = dict(sorted(section[name].items()))
    return spec


def main(out: Path = typer.Option(DOCS, help="Folder for asyncapi.json and asyncapi.yaml.")) -> None:
    spec = document(Settings())
    out.mkdir(parents=True, exist_ok=True)
    (out / "asyncapi.json").write_text(json.dumps(spec, indent=2) + "\n")
    (out / "asyncapi.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    typer.echo(f"wrote {out / 'asyncapi.json'} and {out / 'asyncapi.yaml'}")


if __name__ == "__main__":
    typer.run(main)
