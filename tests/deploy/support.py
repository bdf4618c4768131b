"""What the deployment tests compare against: the settings object, the exported metrics, the commands."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client import REGISTRY
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from infra.settings import Settings
from tests.deploy.envfile import PREFIX, env_name

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NOT_PACKAGES = {"tests", "bench", "deploy"}

DEFAULTS = Settings.model_construct()  # the declared defaults, untouched by the environment
SETTING_OF_ENV = {env_name(name): name for name in Settings.model_fields}

# The one command line of each process, whatever runs it (docker compose or Kubernetes).
COMMANDS: dict[str, list[str]] = {
    "api": ["python", "-m", "api"],
    "worker": ["python", "-m", "consumers", "--index", "0"],
    "shadow": ["python", "-m", "consumers", "--shadow"],
    "dashboard": [
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.port",
        str(DEFAULTS.dashboard_port),
        "--server.address",
        "0.0.0.0",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ],
}

# Labels Prometheus attaches to every scraped series (target labels), usable in any selector.
TARGET_LABELS = {"job", "instance", "namespace", "pod"}
PROMETHEUS_BUILTINS = {"up": TARGET_LABELS}
# Grafana's macros are not PromQL: give them a value before parsing.
GRAFANA_MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def unknown_settings(names: Iterator[str] | list[str]) -> list[str]:
    return sorted(name for name in names if name.startswith(PREFIX) and name not in SETTING_OF_ENV)


class DeclaredSettings(Settings):
    """The settings from the given values alone: no environment variables, no .env file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Validates ``VALUESTREAM_*`` values as the processes would read them (empty = default)."""
    values = {SETTING_OF_ENV[name]: value for name, value in env.items() if name in SETTING_OF_ENV and value != ""}
    return DeclaredSettings.model_validate(values)


# --- metrics the code exports -------------------------------------------------------------------------


def metrics_modules() -> list[str]:
    """Every ``metrics.py`` of the project's packages, as module names."""
    modules = []
    for path in sorted(REPO.glob("*/**/metrics.py")):
        relative = path.relative_to(REPO)
        if relative.parts[0] in NOT_PACKAGES or relative.parts[0].startswith("."):
            continue
        modules.append(".".join(relative.with_suffix("").parts))
    return modules


SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def exported_metrics() -> dict[str, set[str]]:
    """Every series name the project's metrics modules expose, with the labels it may carry."""
    for module in metrics_modules():
        importlib.import_module(module)
    labels_of = {}
    # prometheus_client keeps no public map from a family to its label names; collectors carry them.
    for name, collector in REGISTRY._names_to_collectors.items():
        labels_of[name] = set(getattr(collector, "_labelnames", ()))
    exported: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("valuestream_"):
            continue
        for suffix in SUFFIXES[family.type]:
            sample = family.name + suffix
            labels = labels_of.get(sample, labels_of.get(family.name, set()))
            exported[sample] = labels | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
    return exported | PROMETHEUS_BUILTINS


# --- PromQL -------------------------------------------------------------------------------------------


@dataclass
class Selector:
    metric: str
    labels: set[str] = field(default_factory=set)


def selectors(expr: str) -> list[Selector]:
    """The metric selectors of a PromQL expression (parsing it, so a syntax error fails loudly)."""
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            labels = {m.name for m in node.matchers.matchers if m.name != "__name__"}
            found.append(Selector(node.name, labels))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def selector_problems(where: str, expr: str, exported: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for selector in selectors(expr):
        if selector.metric not in exported:
            problems.append(f"{where}: metric {selector.metric} is not exported")
            continue
        if unknown := sorted(selector.labels - exported[selector.metric]):
            problems.append(f"{where}: {selector.metric} has no label {', '.join(unknown)}")
    return problems


PORT = re.compile(r":(\d+)")


def port_of(address: str) -> int:
    match = PORT.search(address)
    assert match is not None, f"no port in {address!r}"
    return int(match.group(1))
