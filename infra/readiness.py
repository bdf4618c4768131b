"""Is it up yet? One quiet probe per kind of service ``make run`` starts.

A probe answers True or False and never logs: a service still starting is what is being
waited for, not an error. Standard library and the state package's blocking probes only, so the
orchestrator stays light.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable

from pydantic import ValidationError

from infra import stack
from infra.settings import Settings
from schemas.api import HealthPublic
from state.probe import heartbeats

Probe = Callable[[], bool]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own local URLs
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def api_base(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def health(settings: Settings, timeout: float = 3.0) -> HealthPublic | None:
    """The API's readiness report (200 or 503 alike), or None when the API does not answer."""
    try:
        with urllib.request.urlopen(f"{api_base(settings)}/api/v1/health/ready", timeout=timeout) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        return HealthPublic.model_validate(json.loads(body))
    except (ValidationError, ValueError):
        return None


def serving_versions(settings: Settings) -> list[str]:
    """The model versions the workers serve, as the API sees them (empty until one is loaded)."""
    report = health(settings)
    if report is None:
        return []
    return sorted({b.model.version for b in report.workers if b.model is not None}, key=int)


def worker_serving(settings: Settings, index: int) -> bool:
    """Worker ``index`` has a model loaded: its heartbeat in Redis names one."""
    beats = heartbeats(settings.redis_url, settings.redis_prefix, f"worker-{index}@*")
    return any(beat.model is not None for beat in beats)


def kafka_nodes(settings: Settings) -> dict[str, str]:
    """Program name of each Kafka node ``make run`` starts -> its address (``kafka``, ``kafka-2``, ...)."""
    addresses = settings.kafka_bootstrap.split(",")
    return {("kafka" if i == 0 else f"kafka-{i + 1}"): address for i, address in enumerate(addresses)}


def probes(settings: Settings) -> dict[str, Probe]:
    """Program name -> its readiness probe."""
    found: dict[str, Probe] = {
        "kafka": lambda: asyncio.run(stack.kafka_ready(settings.kafka_bootstrap)),
        "redis": lambda: stack.redis_ready(settings.redis_port),
        "api": lambda: http_ok(f"{api_base(settings)}/api/v1/health/live"),
        "dashboard": lambda: http_ok(f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health"),
        "mlflow": lambda: http_ok(f"http://127.0.0.1:{settings.mlflow_ui_port}/health"),
    }
    for name, address in list(kafka_nodes(settings).items())[1:]:
        found[name] = lambda address=address: asyncio.run(stack.kafka_ready(address))  # type: ignore[misc]
    # The shadow scorer serves its metrics once its models are loaded.
    found["shadow"] = lambda: http_ok(f"http://127.0.0.1:{settings.shadow_metrics_port}/metrics")
    for index in range(settings.workers):
        found[f"worker{index}"] = lambda index=index: worker_serving(settings, index)  # type: ignore[misc]
    return found
