"""``python -m consumers.asyncapi``: write the Kafka contract as AsyncAPI 3 (docs/asyncapi.json and .yaml).

FastStream generates the document from the worker's broker. Two additions it cannot infer: the
request payload (the worker takes raw bytes, so that bad input reaches the dead-letter topic,
while the contract is ``PredictionRequest``) and the headers of requests and dead letters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from faststream.specification import AsyncAPI

from consumers.app import build_worker
from consumers.model import ModelHolder
from infra.kafka import create_broker
from infra.settings import Settings
from schemas.messages import PredictionRequest
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
DLQ_MESSAGE = "dead-letters:Message"


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
                "Prediction requests in, results and dead letters out. JSON values (UTF-8), key = request_id. "
                "At-least-once: a worker commits offsets only after a batch's results are in Redis and on "
                "predictions.results, so a result may be delivered twice, always with the same content."
            ),
        )
        .to_specification()
        .to_jsonable()
    )
    components = spec["components"]
    request = PredictionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components["schemas"].update(request.pop("$defs", {}))
    components["schemas"]["PredictionRequest"] = request
    message = components["messages"][REQUEST_MESSAGE]
    message["payload"] = {"$ref": "#/components/schemas/PredictionRequest"}
    components["schemas"].pop("score-requests:Message:Payload", None)
    message["headers"] = _headers({REPLY_TO_HEADER: "Optional topic that also receives this request's result."})
    components["messages"][DLQ_MESSAGE]["headers"] = _headers(
        {
            ERROR_CODE_HEADER: "not_json | invalid_request",
            ERROR_HEADER: "Readable reason, e.g. 'features.gr_liv_area: Input should be greater than or equal to 200'.",
            SOURCE_TOPIC_HEADER: "Topic the message was read from.",
            SOURCE_PARTITION_HEADER: "Its partition.",
            SOURCE_OFFSET_HEADER: "Its offset.",
        }
    )
    return spec


def main(out: Path = typer.Option(DOCS, help="Folder for asyncapi.json and asyncapi.yaml.")) -> None:
    spec = document(Settings())
    out.mkdir(parents=True, exist_ok=True)
    (out / "asyncapi.json").write_text(json.dumps(spec, indent=2) + "\n")
    (out / "asyncapi.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    typer.echo(f"wrote {out / 'asyncapi.json'} and {out / 'asyncapi.yaml'}")


if __name__ == "__main__":
    typer.run(main)
