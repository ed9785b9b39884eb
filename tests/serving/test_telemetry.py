"""The real model server's telemetry: /metrics, X-Request-Id, the prediction log, outcomes, drift gauges."""

from __future__ import annotations

import json
import time

import pytest
import requests

from include.monitoring.prediction_log import read_records

pytestmark = pytest.mark.services


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def total(text: str, name: str, model: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") and f'model="{model}"' in line)


def scrape(server) -> str:
    response = requests.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def poll_records(root, model, request_id, rows, timeout_s=20):
    """The writer is asynchronous: wait (bounded) for the request's rows to reach the file."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [r for r in read_records(root, model, 0, 4e9) if r["request_id"] == request_id]
        if len(found) >= rows:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{rows} records of request {request_id} not in {root} after {timeout_s} s")


def test_metrics_log_and_outcomes(server, registered_home):
    home, name, version = registered_home
    before = scrape(server)
    ok = requests.post(server.invocations, json=server.good_payload(3), headers={**server.auth, "X-Request-Id": "client-id-1"}, timeout=30)
    generated = requests.post(server.invocations, json=server.good_payload(1), headers=server.auth, timeout=30)
    bad = requests.post(server.invocations, json={"dataframe_split": {"columns": ["nope"], "data": [[1]]}}, headers=server.auth, timeout=30)
    anonymous = requests.post(server.invocations, json=server.good_payload(1), timeout=30)
    assert (ok.status_code, generated.status_code, anonymous.status_code) == (200, 200, 401) and 400 <= bad.status_code < 500
    assert ok.headers["X-Request-Id"] == "client-id-1"
    assert len(generated.headers["X-Request-Id"]) == 32 and bad.headers["X-Request-Id"]

    after = scrape(server)
    grew = lambda name_, **labels: metric(after, name_, **labels) - metric(before, name_, **labels)
    assert grew("ct_serving_requests_total", model=name, status="200") == 2
    assert grew("ct_serving_requests_total", model=name, status="401") == 1
    assert grew("ct_serving_errors_total", model=name, kind="unauthenticated") == 1
    assert total(after, "ct_serving_errors_total", name) - total(before, "ct_serving_errors_total", name) == 2  # + the bad columns
    assert grew("ct_serving_requests_total", model=name, status=str(bad.status_code)) == 1
    assert grew("ct_serving_request_seconds_count", model=name) == 2
    assert sum(grew("ct_serving_predictions_total", model=name, version=version, outcome=o) for o in ("[4,8)", "[8,16)", "[16,32)", "[2,4)")) == 4
    assert metric(after, "ct_serving_model_version", model=name) == float(version)
    assert f'ct_serving_model_info{{model="{name}",run_id=' in after and f'version="{version}"' in after

    records = poll_records(home / "monitoring" / "predictions", name, "client-id-1", 3)
    assert [r["row"] for r in records] == [0, 1, 2] and {r["version"] for r in records} == {version}
    assert records[0]["features"] == {"temp_min": 8.3, "precipitation": 3.8, "wind": 4.7, "weather": "fog"}
    assert records[0]["prediction"] == ok.json()["predictions"][0]

    fed = requests.post(f"{server.url}/models/{name}/outcomes", json={"outcomes": [{"request_id": "client-id-1", "row": 2, "actual": 12.5}]}, headers=server.auth, timeout=10)
    assert fed.status_code == 200 and fed.json()["recorded"] == 1
    assert [(o["request_id"], o["row"], o["actual"]) for o in read_records(home / "monitoring" / "outcomes", name, 0, 4e9)] == [("client-id-1", 2, 12.5)]
    refused = requests.post(f"{server.url}/models/{name}/outcomes", json={"outcomes": [{"row": 2}]}, headers=server.auth, timeout=10)
    assert refused.status_code == 422 and "outcome #0" in refused.json()["message"]
    assert requests.post(f"{server.url}/models/{name}/outcomes", json={"outcomes": []}, timeout=10).status_code == 401

    latest = home / "monitoring" / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / f"{name}.json").write_text(json.dumps({"model": name, "features": [{"feature": "wind", "test": "ks", "statistic": 0.31, "p_value": 0.002, "drifted": True}], "quality": {"rmse": 3.2}}))
    gauges = scrape(server)
    assert metric(gauges, "ct_drift_statistic", model=name, feature="wind") == 0.31
    assert metric(gauges, "ct_live_quality", model=name, metric="rmse") == 3.2
    assert server.server_errors() == []
