"""Prometheus configs and alert rules pass promtool; every alert and dashboard query names metrics and
labels that the code really exports (read from prometheus_client's registry after importing every
``metrics.py`` of the project)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import (
    DEFAULTS,
    DEPLOY,
    exported_metrics,
    load_yaml,
    load_yaml_documents,
    selector_problems,
    selectors,
)

PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
REQUIRED_ALERTS = {
    "ValuestreamApiErrorRate": "valuestream_api_requests_total",
    "ValuestreamApiLatencyP99High": "valuestream_api_request_seconds_bucket",
    "ValuestreamConsumerLagGrowing": "valuestream_worker_consumer_lag",
    "ValuestreamDeadLetterRate": "valuestream_worker_dead_letters_total",
    "ValuestreamNoModelLoaded": "valuestream_worker_model_version",
    "ValuestreamInputDrift": "valuestream_worker_feature_psi",
    "ValuestreamFeedbackAccuracyDegraded": "valuestream_model_feedback_mape",
}
# What the dashboards must show, by the metric that shows it.
REQUIRED_PANELS = {
    "request rate": "valuestream_api_requests_total",
    "latency": "valuestream_api_request_seconds_bucket",
    "end-to-end latency": "valuestream_worker_end_to_end_seconds_bucket",
    "consumer lag": "valuestream_worker_consumer_lag",
    "batch sizes": "valuestream_worker_batch_size_bucket",
    "dead letters": "valuestream_worker_dead_letters_total",
    "model version": "valuestream_worker_model_version",
    "prediction outcomes": "valuestream_worker_messages_total",
    "drift": "valuestream_worker_feature_psi",
    "feedback accuracy": "valuestream_model_feedback_mape",
    "model time per variant": "valuestream_worker_variant_scoring_seconds_bucket",
    "accuracy per variant": "valuestream_model_variant_mape",
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make system-deps` (Debian package prometheus)"
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    return exported_metrics()


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(PROMETHEUS / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries(path: Path) -> list[tuple[str, str]]:
    found = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{path.name} / {panel['title']} / {target['refId']}", target["expr"]))
    return found


def test_alert_rules_pass_promtool() -> None:
    result = promtool("check", "rules", PROMETHEUS / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_prometheus_config_passes_promtool() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    # Debian's promtool is built without Kubernetes discovery: check everything else (relabelling, rules)
    # with the discovery swapped for an empty static list.
    config = load_yaml(PROMETHEUS / "prometheus-k8s.yml")
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
        job["static_configs"] = [{"targets": []}]
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    result = promtool("check", "config", tmp_path / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_api_and_every_worker_at_the_settings_ports() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]}
    assert jobs["valuestream-api"]["static_configs"][0]["targets"] == [f"api:{DEFAULTS.api_port}"]
    workers = jobs["valuestream-workers"]["dns_sd_configs"][0]
    assert workers["names"] == ["consumers"]
    assert workers["port"] == DEFAULTS.worker_metrics_port
    shadow = jobs["valuestream-shadow"]["static_configs"][0]["targets"]
    assert shadow == [f"shadow:{DEFAULTS.shadow_metrics_port}"]


def test_the_required_alerts_exist_and_use_their_metric() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for alert, metric in REQUIRED_ALERTS.items():
        assert alert in rules, f"missing alert {alert}"
        assert metric in {s.metric for s in selectors(rules[alert]["expr"])}, f"{alert} does not read {metric}"
    assert "0.2" in rules["ValuestreamInputDrift"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]


def test_alerts_name_only_exported_metrics_and_labels(exported: dict[str, set[str]]) -> None:
    problems = [p for rule in alert_rules() for p in selector_problems(rule["alert"], rule["expr"], exported)]
    assert not problems, "alert rules use what the code does not export:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboards_name_only_exported_metrics_and_labels(path: Path, exported: dict[str, set[str]]) -> None:
    queries = dashboard_queries(path)
    assert queries
    problems = [p for where, expr in queries for p in selector_problems(where, expr, exported)]
    assert not problems, "dashboard queries use what the code does not export:\n" + "\n".join(problems)


def test_dashboards_show_everything_asked_for() -> None:
    shown = {s.metric for path in DASHBOARDS for _, expr in dashboard_queries(path) for s in selectors(expr)}
    missing = {what: metric for what, metric in REQUIRED_PANELS.items() if metric not in shown}
    assert not missing, f"no panel shows {missing}"


def test_grafana_provisioning_points_at_the_dashboards_and_datasource() -> None:
    datasources = load_yaml_documents(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")[0]["datasources"]
    uids = {source["uid"] for source in datasources}
    assert any(source["url"] == "http://prometheus:9090" for source in datasources)
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] in uids, f"{path.name} / {panel['title']}: unknown datasource"
