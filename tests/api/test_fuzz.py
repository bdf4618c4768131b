"""The served OpenAPI document is the contract: schemathesis, every check, both generation modes.

The API runs under uvicorn against the session's Kafka and Redis, with API keys off (the local
default) and with keys on. For each, the document served at ``/openapi.json`` drives

- the examples, coverage and fuzzing phases (``@schema.parametrize()``), positive and negative
  data, every check schemathesis has (``positive_data_acceptance``, ``negative_data_rejection``,
  ``missing_required_header``, ``unsupported_method``, ``ignored_auth``, …), with a real
  scoring worker, so ``?wait=`` answers carry scored results;
- the stateful phase (``schema.as_state_machine()``), which follows the document's OpenAPI links:
  ``POST /predict`` → ``GET``/``DELETE /predictions/{id}`` → ``POST /feedback``, and a job's
  creation → its progress, results and erasure (on topics no worker reads, see ``test_stateful``).

Any failure fails the test. Two kinds of answer are beyond what JSON Schema can say, and are
allowed narrowly (``NARROWED``), each with a check that keeps the allowance honest:

- ``PropertyFeatures`` has rules across fields (``year_remod_add`` not before ``year_built``,
  ``year_sold`` not before ``year_built - 1``, ``second_flr_sf`` below ``gr_liv_area``, a
  finished basement no larger than the basement, both coordinates or neither). A house that
  keeps every field's bounds can still break one, and the answer is a documented ``422``; so is
  a house the model refuses to value (a location outside its market, a valuation date decades
  past its data), reported on ``features`` in the same way. So a
  positive ``POST /predict`` may be a 422 only if every reason is such a rule
  (``cross_field_rules_only``), and a positive ``POST /batch`` only with ``all_or_nothing``
  (its rows are free-form objects, validated one by one, by design).
- an uploaded file is ``format: binary``: any bytes are schema-valid, so a positive
  ``POST /jobs`` may be a 422 when the content is not a readable table.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, initialize
from schemathesis.core.result import Ok
from schemathesis.generation.stateful.state_machine import StepInput

from api.app import create_app
from infra.api_keys import hash_key
from infra.settings import Settings
from schemas.features import EXAMPLE_HOUSE
from tests.api.server import served
from tests.conftest import WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration

SALT = "fuzz-salt"
KEY = "fuzz-key"
SCHEME = "APIKeyHeader"
# /stream never ends by design (Server-Sent Events hold the connection open until the client
# leaves), so every fuzzed request would wait for the timeout; it is tested in test_live.py.
# /metrics takes no input and answers Prometheus text (its series are checked in test_live.py).
EXCLUDED = r"/(stream|metrics)$"
PREDICT = "POST /api/v1/predict"
BATCH = "POST /api/v1/batch"
UPLOAD = "POST /api/v1/jobs"
JSON = "application/json"
# schemathesis' default expected statuses for positive_data_acceptance, plus 422 (see above)
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
NARROWED = {name: [*ACCEPTED, "422"] for name in (PREDICT, BATCH, UPLOAD)}
FUZZ_EXAMPLES = 40  # per operation and fuzzing run (the coverage phase adds its own fixed set)
STATEFUL_EXAMPLES = 40  # scenarios of linked calls per deployment


def keyring(keys: bool) -> dict[str, Any]:
    return {"api_keys": f"fuzzer:{hash_key(SALT, KEY)}" if keys else "", "api_key_salt": SALT}


@pytest.fixture(scope="module")
def fuzz_settings(base_settings: Settings, champion: str) -> Settings:
    return isolated_settings(base_settings, rate_limit="none", predict_wait_max_seconds=0.5)


@pytest.fixture(scope="module")
def scoring(fuzz_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A real worker: ``?wait=`` answers carry scored results, and readiness is a 200."""
    process = WorkerProcess(fuzz_settings, 0, tmp_path_factory.mktemp("fuzz-worker"))
    process.wait_ready()
    yield process
    process.stop()


def deploy(settings: Settings, keys: bool) -> contextlib.AbstractContextManager[str]:
    return served(Settings(**(settings.model_dump() | keyring(keys))))


@pytest.fixture(scope="module")
def keys_off(fuzz_settings: Settings, scoring: WorkerProcess) -> Iterator[str]:
    """The API as it runs by default: no keys."""
    with deploy(fuzz_settings, keys=False) as url:
        yield url


@pytest.fixture(scope="module")
def keys_on(fuzz_settings: Settings, scoring: WorkerProcess) -> Iterator[str]:
    """The API with a key configured, so a missing or wrong key must be refused."""
    with deploy(fuzz_settings, keys=True) as url:
        yield url


def fuzz_config(keys: bool) -> schemathesis.Config:
    data: dict[str, Any] = {
        "suppress-health-check": ["all"],
        "request-timeout": 60,  # a busy two-core machine; the first GET /model imports MLflow
        "generation": {"mode": "all", "max-examples": FUZZ_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"generation": {"max-examples": STATEFUL_EXAMPLES}}},
        "checks": {"enabled": True},
        "operations": [
            {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": statuses}}}
            for name, statuses in NARROWED.items()
        ],
    }
    if keys:
        data["auth"] = {"openapi": {SCHEME: {"api_key": KEY}}}
    return schemathesis.Config.from_dict(data)


def contract(keys: bool) -> schemathesis.BaseSchema:
    """The document the app serves (``test_served_document`` holds it to that), with the run's config.

    Built from the app rather than fetched, so that pytest can list one test per operation
    before the servers start; the requests go to the running servers.
    """
    app = create_app(Settings(**keyring(keys)))
    return schemathesis.openapi.from_dict(app.openapi(), config=fuzz_config(keys)).exclude(path_regex=EXCLUDED)


CONTRACT_OFF = contract(keys=False)
CONTRACT_ON = contract(keys=True)


def _detail_fields(response: schemathesis.Response) -> list[str]:
    return [str(d["field"]) for d in json.loads(response.content)["details"]]


@schemathesis.check
def cross_field_rules_only(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """Where a positive 422 is allowed (``NARROWED``), it must be for what JSON Schema cannot say."""
    label = f"{case.method} {case.operation.path}"
    if response.status_code != 422 or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if label == PREDICT:
        fields = _detail_fields(response)
        # a model-level rule of PropertyFeatures is reported on `features` itself, not on a field
        assert fields, "a schema-valid house refused without a reason"
        assert all(f == "features" for f in fields), f"a schema-valid house refused for {fields}"
    elif label == BATCH:
        assert case.body.get("all_or_nothing") is True, "a schema-valid batch refused without all_or_nothing"
    elif label == UPLOAD:
        code = json.loads(response.content)["code"]
        assert code == "invalid_file", f"a schema-valid upload refused with {code}"


@pytest.mark.parametrize("keys", [False, True], ids=["keys_off", "keys_on"])
def test_served_document(keys: bool, request: pytest.FixtureRequest) -> None:
    """The served document is the one fuzzed: valid, with links, keys required exactly when configured."""
    url = request.getfixturevalue("keys_on" if keys else "keys_off")
    served = httpx.get(f"{url}/openapi.json").json()
    assert served == create_app(Settings(**keyring(keys))).openapi()  # what CONTRACT_* were built from
    contract_schema = CONTRACT_ON if keys else CONTRACT_OFF
    results = list(contract_schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), "the served OpenAPI document is invalid"
    assert len(results) == 14
    predict = served["paths"]["/api/v1/predict"]["post"]
    assert set(predict["responses"]["202"]["links"]) == {"GetPrediction", "DeletePrediction"}
    assert predict["security"] == ([{SCHEME: []}] if keys else [{}, {SCHEME: []}])
    assert ("401" in predict["responses"]) is keys


@CONTRACT_OFF.parametrize()
def test_conformance_keys_off(case: schemathesis.Case[Any], keys_off: str) -> None:
    """Examples, coverage and fuzzing phases; positive and negative data; every check."""
    case.call_and_validate(base_url=keys_off)


@CONTRACT_ON.parametrize()
def test_conformance_keys_on(case: schemathesis.Case[Any], keys_on: str) -> None:
    """The same with a key configured (``ignored_auth`` sends requests without it and with a wrong one)."""
    case.call_and_validate(base_url=keys_on)


@pytest.fixture(scope="module")
def unscored(base_settings: Settings, champion: str) -> Settings:
    """Topics no worker reads: every prediction stays queued, so each scenario replays alike."""
    return isolated_settings(base_settings, rate_limit="none", predict_wait_max_seconds=0.5)


@pytest.mark.parametrize("keys", [False, True], ids=["keys_off", "keys_on"])
def test_stateful(keys: bool, unscored: Settings) -> None:
    """Sequences of calls that follow the document's links, every check on every answer.

    Hypothesis replays scenarios and needs each answer's status to be the same on a replay;
    with a worker, ``POST /predict?wait=`` answers 200 or 202 by how fast the worker is, so
    this deployment has none (the other tests have one). With a worker, ``use_after_free``
    also finds a defect of the result store rather than of the document: a prediction erased
    while queued comes back when its result lands (the worker's write does not know of the
    erasure); that needs its own fix and test where the store is.
    """
    contract_schema = CONTRACT_ON if keys else CONTRACT_OFF
    base = contract_schema.as_state_machine()
    predict = contract_schema["/api/v1/predict"]["POST"]
    seen: set[tuple[str, int]] = set()

    with deploy(unscored, keys) as url:

        class Workflow(base):  # type: ignore[misc,valid-type]
            # schemathesis starts scenarios only from operations it judges likely to succeed,
            # and it reads POST /predict's optional `request_id` as a reference to a resource
            # nothing produces; so each scenario starts with one house, and the links from its
            # 202 (read, erase, feedback) are followed from there. This mirrors schemathesis'
            # own entry steps (record, count, step): internal API, pinned by uv.lock.
            @initialize(target=Bundle(f"{PREDICT} -> 202"))  # the bundle of its 202 answers
            def submit_a_house(self) -> Any:
                headers = {"X-API-Key": KEY} if keys else {}
                case = predict.Case(body={"features": EXAMPLE_HOUSE}, media_type=JSON, headers=headers)
                step = StepInput.initial(case)
                self.recorder.record_case(case=step.case)
                self.control.record_step(step, self.recorder)
                return self._step(step)

            def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
                return {"base_url": url}

            def after_call(self, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
                super().after_call(response, case)
                seen.add((f"{case.method} {case.operation.path}", response.status_code))

        Workflow.run(
            settings=settings(
                max_examples=STATEFUL_EXAMPLES,
                stateful_step_count=6,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
        )
    # the links were followed: what POST /predict, POST /batch and POST /jobs created was used by its id
    predictions = {("GET /api/v1/predictions/{request_id}", 200), ("DELETE /api/v1/predictions/{request_id}", 204)}
    jobs = {
        ("GET /api/v1/jobs/{job_id}", 200),
        ("GET /api/v1/jobs/{job_id}/results", 200),
        ("DELETE /api/v1/jobs/{job_id}", 204),
    }
    assert predictions & seen, sorted(seen)
    assert jobs & seen, sorted(seen)
