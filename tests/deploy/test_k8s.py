"""The Kubernetes manifests, rendered as kustomize would (namespace, labels, images) and checked: schema,
images, ports, probes, settings, scaling and resources agree with the settings object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.support import (
    COMMANDS,
    DEFAULTS,
    DEPLOY,
    load_yaml,
    load_yaml_documents,
    port_of,
    settings_from_env,
    unknown_settings,
)

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"
OUR_IMAGE = "valuestream"
OTHER_IMAGES = {"redis:7", "apache/kafka:4.1.1"}
CUSTOM_KINDS = {"ScaledObject"}  # KEDA's CRD: no schema to validate against, checked field by field below


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(K8S / "kustomization.yaml")
    return data


@pytest.fixture(scope="module")
def rendered(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources with kustomize's namespace, common labels and image transforms applied."""
    images = {image["name"]: f"{image['newName']}:{image['newTag']}" for image in kustomization["images"]}
    labels = {k: v for entry in kustomization["labels"] for k, v in entry["pairs"].items()}
    resources = []
    for name in kustomization["resources"]:
        for doc in load_yaml_documents(K8S / name):
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kustomization["namespace"]
            doc["metadata"].setdefault("labels", {}).update(labels)
            for container in containers_of(doc):
                container["image"] = images.get(container["image"], container["image"])
            resources.append(doc)
    return resources


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    template = doc.get("spec", {}).get("template")
    return template["spec"] if template else None


def containers_of(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(doc)
    if spec:
        yield from spec["containers"]


def find(rendered: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in rendered if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}"
    return matches[0]


def container(rendered: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return next(containers_of(find(rendered, "Deployment", deployment)))


def named_port(item: dict[str, Any], name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in item["ports"]}
    return int(ports[name])


@pytest.fixture(scope="module")
def config(rendered: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = find(rendered, "ConfigMap", "valuestream-settings")["data"]
    return data


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert len(kustomization["resources"]) == len(files), "a file is listed twice"


def test_every_manifest_follows_the_kubernetes_schema(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_images_are_ours_or_pinned(rendered: list[dict[str, Any]], kustomization: dict[str, Any]) -> None:
    ours = {f"{image['newName']}:{image['newTag']}" for image in kustomization["images"] if image["name"] == OUR_IMAGE}
    assert len(ours) == 1
    for doc in rendered:
        for item in containers_of(doc):
            assert item["image"] in ours | OTHER_IMAGES, f"{doc['metadata']['name']}: image {item['image']}"


def test_settings_and_secret_hold_only_real_settings(rendered: list[dict[str, Any]], config: dict[str, str]) -> None:
    secret = find(rendered, "Secret", "valuestream-secrets")["stringData"]
    assert not unknown_settings(list(config))
    assert not unknown_settings(list(secret))
    assert all(value == "" for value in secret.values()), "the Secret is a placeholder: no real values in git"
    settings = settings_from_env(config | {"VALUESTREAM_API_KEY_SALT": "a-real-salt"})
    assert settings.environment == "production"
    with pytest.raises(ValueError, match="API_KEY_SALT"):
        settings_from_env(config)  # the placeholder left empty: production refuses to start


def test_every_app_container_gets_the_settings(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        for item in containers_of(doc):
            if item["image"] in OTHER_IMAGES or item["name"] == "mlflow":
                continue
            refs = [ref.get("configMapRef", ref.get("secretRef", {}))["name"] for ref in item["envFrom"]]
            assert refs == ["valuestream-settings", "valuestream-secrets"], doc["metadata"]["name"]
            names = [var["name"] for var in item.get("env", [])]
            assert not unknown_settings(names)


def test_commands_are_the_same_as_in_compose(rendered: list[dict[str, Any]]) -> None:
    assert container(rendered, "api")["command"] == COMMANDS["api"]
    assert container(rendered, "workers")["command"] == COMMANDS["worker"]
    assert container(rendered, "shadow")["command"] == COMMANDS["shadow"]
    assert container(rendered, "dashboard")["command"] == COMMANDS["dashboard"]


def test_ports_agree_with_the_settings(rendered: list[dict[str, Any]], config: dict[str, str]) -> None:
    settings = settings_from_env(config | {"VALUESTREAM_API_KEY_SALT": "x"})
    assert named_port(container(rendered, "api"), "http") == settings.api_port == DEFAULTS.api_port
    assert named_port(container(rendered, "workers"), "metrics") == settings.worker_metrics_port
    assert named_port(container(rendered, "shadow"), "metrics") == settings.shadow_metrics_port
    assert named_port(container(rendered, "dashboard"), "http") == settings.dashboard_port
    assert named_port(container(rendered, "mlflow"), "http") == port_of(settings.mlflow_tracking_uri or "")
    assert named_port(container(rendered, "redis"), "redis") == port_of(settings.redis_url)
    assert settings.api_url == f"http://api:{settings.api_port}"
    assert settings.api_host == "0.0.0.0"


def test_services_reach_their_pods(rendered: list[dict[str, Any]]) -> None:
    deployments = [d for d in rendered if d["kind"] in {"Deployment", "StatefulSet"}]
    for service in (d for d in rendered if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        pods = [d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, f"Service {service['metadata']['name']} selects {len(pods)} deployments"
        port_names = {p["name"] for item in containers_of(pods[0]) for p in item["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for deployment in deployments:
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            deployment["spec"]["template"]["metadata"]["labels"].items()
        )


def test_probes(rendered: list[dict[str, Any]]) -> None:
    api = container(rendered, "api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    for doc in rendered:
        for item in containers_of(doc):
            if doc["kind"] != "Deployment":
                continue
            assert "readinessProbe" in item, doc["metadata"]["name"]
            assert "livenessProbe" in item, doc["metadata"]["name"]
            port_names = {p["name"] for p in item["ports"]}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                action = item.get(probe, {}).get("httpGet") or item.get(probe, {}).get("tcpSocket")
                if action:
                    assert action["port"] in port_names, f"{doc['metadata']['name']} {probe}"


def test_metrics_annotations_match_the_ports_and_prometheus_jobs(rendered: list[dict[str, Any]]) -> None:
    jobs = {job["job_name"] for job in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]}
    scraped = {}
    for doc in rendered:
        spec = pod_spec(doc)
        annotations = doc["spec"]["template"]["metadata"].get("annotations", {}) if spec else {}
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        ports = {p["containerPort"] for item in containers_of(doc) for p in item["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/job"] in jobs
        scraped[doc["metadata"]["name"]] = int(annotations["prometheus.io/port"])
    assert scraped == {
        "api": DEFAULTS.api_port,
        "workers": DEFAULTS.worker_metrics_port,
        "shadow": DEFAULTS.shadow_metrics_port,
    }


def test_api_scales_on_cpu(rendered: list[dict[str, Any]]) -> None:
    hpa = find(rendered, "HorizontalPodAutoscaler", "api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert 1 < hpa["minReplicas"] < hpa["maxReplicas"]


def test_workers_scale_on_lag_up_to_the_partitions(rendered: list[dict[str, Any]], config: dict[str, str]) -> None:
    scaled = find(rendered, "ScaledObject", "workers")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "workers"
    assert spec["maxReplicaCount"] == int(config["VALUESTREAM_KAFKA_PARTITIONS"]) == DEFAULTS.kafka_partitions
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["bootstrapServers"] == config["VALUESTREAM_KAFKA_BOOTSTRAP"]
    assert meta["consumerGroup"] == config["VALUESTREAM_CONSUMER_GROUP"] == DEFAULTS.consumer_group
    assert meta["topic"] == config["VALUESTREAM_REQUESTS_TOPIC"] == DEFAULTS.requests_topic
    assert int(meta["lagThreshold"]) >= DEFAULTS.batch_max_records
    assert "lagThreshold is the target lag per replica" in (K8S / "workers-scaledobject.yaml").read_text()


def test_resources_are_bounded(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        for item in containers_of(doc):
            assert {"cpu", "memory"} <= item["resources"]["requests"].keys(), doc["metadata"]["name"]
            assert {"cpu", "memory"} <= item["resources"]["limits"].keys(), doc["metadata"]["name"]
    worker = container(rendered, "workers")["resources"]
    assert worker["requests"]["memory"] == "1Gi"
    assert worker["limits"]["memory"] == "1536Mi"


def test_pods_run_as_non_root(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        spec = pod_spec(doc)
        if spec:
            assert spec["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
            assert spec["securityContext"]["runAsUser"] != 0


def test_kafka_is_three_nodes_replicating_each_write_twice(
    rendered: list[dict[str, Any]], config: dict[str, str]
) -> None:
    kafka = find(rendered, "StatefulSet", "kafka")
    env = {var["name"]: var["value"] for var in next(containers_of(kafka))["env"]}
    assert kafka["spec"]["replicas"] == 3
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [f"{n + 1}@kafka-{n}.kafka-headless:9093" for n in range(3)]
    settings = settings_from_env(config | {"VALUESTREAM_API_KEY_SALT": "x"})
    assert settings.kafka_servers == [f"kafka-{n}.kafka-headless:9092" for n in range(3)]
    assert settings.kafka_replication_factor == 3 == int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"])
    assert settings.kafka_min_insync_replicas == 2 == int(env["KAFKA_MIN_INSYNC_REPLICAS"])
    assert find(rendered, "PodDisruptionBudget", "kafka")["spec"]["maxUnavailable"] == 1
