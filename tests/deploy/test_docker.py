"""The image and docker-compose.yml, checked statically (no Docker engine here): schema, commands, ports,
settings, health checks and start order."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import (
    COMMANDS,
    DEFAULTS,
    DEPLOY,
    REPO,
    load_yaml,
    port_of,
    settings_from_env,
    unknown_settings,
)

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
TOOLS = Path(sys.executable).parent
APP_SERVICES = {"mlflow", "train", "api", "consumers", "shadow", "dashboard"}
ONE_SHOTS = {"topics", "train"}
# ${VALUESTREAM_X:-default}, in compose interpolation or (written $${...}) in a container's shell.
DEFAULTED = re.compile(r"\$\{(VALUESTREAM_\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).rsplit(":", 1)[-1].split("/")[0]) for mapping in service.get("ports", [])}


def healthcheck_port(service: dict[str, Any]) -> int:
    return port_of(" ".join(service["healthcheck"]["test"]))


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [TOOLS / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_of_the_design(services: dict[str, dict[str, Any]]) -> None:
    brokers = {"kafka", "kafka-2", "kafka-3"}
    expected = brokers | {
        "topics",
        "redis",
        "mlflow",
        "train",
        "api",
        "consumers",
        "shadow",
        "dashboard",
        "prometheus",
        "grafana",
    }
    assert set(services) == expected
    for broker in brokers:  # three KRaft nodes, each a voter of the same quorum
        assert services[broker]["image"] == "apache/kafka:4.1.1"
        environment = services[broker]["environment"]
        assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        assert environment["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert sorted(services[b]["environment"]["KAFKA_NODE_ID"] for b in brokers) == [1, 2, 3]
    assert services["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert services["consumers"]["deploy"]["replicas"] == 2
    assert "deploy" not in services["shadow"], "one shadow scorer"


def test_compose_commands(services: dict[str, dict[str, Any]]) -> None:
    assert services["api"]["command"] == COMMANDS["api"]
    assert services["consumers"]["command"] == COMMANDS["worker"]
    assert services["shadow"]["command"] == COMMANDS["shadow"]
    assert services["dashboard"]["command"] == COMMANDS["dashboard"]
    assert services["train"]["command"] == ["python", "-m", "training", "--if-no-champion"]
    assert services["mlflow"]["command"][:2] == ["mlflow", "server"]


def test_compose_environment_uses_real_settings_with_valid_values(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = {key: str(value) for key, value in services[name]["environment"].items()}
        assert not unknown_settings(list(env)), f"{name}: not settings: {unknown_settings(list(env))}"
        settings_from_env(env)  # raises on a value the processes would refuse


def test_compose_defaults_match_the_settings_defaults() -> None:
    found = DEFAULTED.findall(COMPOSE_FILE.read_text())
    assert found, "expected ${VALUESTREAM_...:-default} references (topics, partitions)"
    for name, default in found:
        assert not unknown_settings([name]), f"{name} is not a setting"
        expected = settings_from_env({name: default}).model_dump()
        assert expected == DEFAULTS.model_dump(), f"{name} defaults to {default!r}, the settings say otherwise"


def test_compose_topics_and_partitions_are_the_settings(services: dict[str, dict[str, Any]]) -> None:
    script = services["topics"]["command"][0]
    for topic in (DEFAULTS.requests_topic, DEFAULTS.results_topic, DEFAULTS.dlq_topic):
        assert topic in script
    assert "--if-not-exists" in script
    assert f"VALUESTREAM_KAFKA_PARTITIONS:-{DEFAULTS.kafka_partitions}" in script


def test_compose_addresses_and_ports_agree(services: dict[str, dict[str, Any]]) -> None:
    settings = settings_from_env({k: str(v) for k, v in services["api"]["environment"].items()})
    advertised = {
        listener.removeprefix("PLAINTEXT://")
        for name, service in services.items()
        if name.startswith("kafka")
        for listener in service["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
        if listener.startswith("PLAINTEXT://")
    }
    assert set(settings.kafka_servers) == advertised, "every broker is in the bootstrap list, and only brokers"
    assert settings.kafka_replication_factor == len(advertised) == 3
    assert settings.kafka_min_insync_replicas == 2
    assert settings.redis_url.startswith("redis://redis:")
    assert port_of(settings.redis_url) == container_ports(services["redis"]).pop()
    assert settings.mlflow_tracking_uri == f"http://mlflow:{DEFAULTS.mlflow_ui_port}"
    assert settings.api_url == f"http://api:{DEFAULTS.api_port}"
    assert settings.api_host == "0.0.0.0"

    assert container_ports(services["api"]) == {DEFAULTS.api_port} == {healthcheck_port(services["api"])}
    assert container_ports(services["dashboard"]) == {DEFAULTS.dashboard_port}
    assert healthcheck_port(services["dashboard"]) == DEFAULTS.dashboard_port
    assert container_ports(services["mlflow"]) == {DEFAULTS.mlflow_ui_port} == {healthcheck_port(services["mlflow"])}
    assert healthcheck_port(services["consumers"]) == DEFAULTS.worker_metrics_port
    assert "ports" not in services["consumers"], "replicas cannot share a host port"
    assert healthcheck_port(services["shadow"]) == DEFAULTS.shadow_metrics_port


def test_compose_health_checks_and_start_order(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if dependency in ONE_SHOTS:
                assert condition == "service_completed_successfully", f"{name} -> {dependency}"
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}"
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
        if name not in ONE_SHOTS:
            assert "healthcheck" in service, f"{name} has no healthcheck"
    assert services["api"]["healthcheck"]["test"][-1].count("/api/v1/health/live") == 1
    for name in ("consumers", "shadow"):
        assert {"kafka", "redis", "mlflow", "topics", "train"} <= set(services[name]["depends_on"])


def test_compose_shares_model_artifacts_where_training_writes_them(services: dict[str, dict[str, Any]]) -> None:
    state = settings_from_env({k: str(v) for k, v in services["train"]["environment"].items()})
    target = str(state.artifact_root)
    for name in ("mlflow", "train", "consumers", "shadow"):
        mounts = {str(volume).split(":")[1]: str(volume).split(":")[0] for volume in services[name]["volumes"]}
        assert mounts.get(target) == "mlflow-artifacts", f"{name} does not mount the artifacts at {target}"
    assert target in services["mlflow"]["command"]


def test_compose_mounts_the_monitoring_files(services: dict[str, dict[str, Any]]) -> None:
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{service} mounts missing {source}"
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "valuestream.yml")
    dashboards_dir = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{dashboards_dir}:ro" in services["grafana"]["volumes"]


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([TOOLS / "hadolint", DOCKERFILE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_one_locked_non_root_image() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert text.count("uv sync --frozen --no-dev") == 2
    assert "COPY pyproject.toml uv.lock" in text
    user = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    assert user, "no USER line"
    assert not user[-1].startswith(("0", "root")), "the last USER must not be root"
    env_names = re.findall(r"\b(VALUESTREAM_\w+)=", text)
    assert env_names
    assert not unknown_settings(env_names)
    for port in (DEFAULTS.api_port, DEFAULTS.dashboard_port, DEFAULTS.worker_metrics_port):
        assert re.search(rf"^EXPOSE .*\b{port}\b", text, flags=re.MULTILINE), f"port {port} not exposed"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".state", ".env", "tests"} <= ignored
    assert not ({"uv.lock", "pyproject.toml", "README.md"} & ignored)
