"""The AsyncAPI document in docs/ is the one the worker's code generates today."""

from __future__ import annotations

import json

from consumers.asyncapi import DOCS, document
from infra.settings import Settings


def test_the_committed_kafka_contract_is_current() -> None:
    committed = json.loads((DOCS / "asyncapi.json").read_text())
    assert document(Settings()) == committed, "docs/asyncapi.json is stale: run `make docs`"
