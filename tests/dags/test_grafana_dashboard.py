"""The Grafana dashboard asks Prometheus for metrics the model server really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "model-serving.json"


def exported_metric_names() -> set[str]:
    """Names in Prometheus' exposition of a model server that served one request and has drift figures."""
    import tempfile

    from prometheus_client import generate_latest

    from include.serving.telemetry import ServingTelemetry

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "m.json").write_text(json.dumps({"model": "m", "features": [{"feature": "x", "test": "ks", "statistic": 0.1, "p_value": 0.5, "drifted": False}], "quality": {"rmse": 1.0}}))
        t = ServingTelemetry(drift_dir=Path(tmp))
        t.requests.labels(model="m", status="200").inc()
        t.errors.labels(model="m", kind="BAD_REQUEST").inc()
        t.latency.labels(model="m").observe(0.01)
        t.predicted("m", "1", [1.5])
        t.served("m", "1", "run")
        t.log_written.labels(model="m").inc()
        t.log_dropped.labels(model="m").inc()
        text = generate_latest(t.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_panel_queries_exported_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_metric_names()
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\b(ct_[a-z_]+)\b", target["expr"]))
    assert queried and queried <= exported, sorted(queried - exported)
    # What the issue asks the dashboard to show.
    for wanted in ("ct_serving_request_seconds_bucket", "ct_serving_errors_total", "ct_serving_predictions_total", "ct_drift_statistic"):
        assert wanted in queried


def test_the_datasource_the_dashboard_uses_is_provisioned():
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]} and datasource["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/ct-platform.yml").read_text())["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{providers[0]['options']['path']}:ro" in mounts
