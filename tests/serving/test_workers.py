"""A real server with two worker processes: hot deploys and rollbacks reach every worker before the
admin call answers, metrics add up over the workers, a dead worker blocks nothing, the prediction
log stays whole with two writers."""

from __future__ import annotations

import os
import secrets
import signal
import time

import pytest
import requests

from include.monitoring.prediction_log import read_records
from tests.serving.conftest import COLUMNS, GOOD_ROW
from tests.serving.test_telemetry import metric
from tests.support.processes import model_server
from tests.support.served_model import register_seattle_model

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """Its own home (its own deployed.json) with two versions of the model, served by two workers."""
    home = tmp_path_factory.mktemp("workers-home")
    name, first = register_seattle_model(home)
    _, second = register_seattle_model(home)
    admin = secrets.token_hex(16)
    log = tmp_path_factory.mktemp("workers-log") / "model-server.log"
    with model_server({"CT_HOME": str(home), "CT_SERVING_ADMIN_TOKEN": admin, "CT_SERVING_WORKERS": "1"}, log, ("--workers", "2")) as url:
        yield {"url": url, "home": home, "name": name, "versions": (first, second), "admin": {"Authorization": f"Bearer {admin}"}, "log": log}


def deploy(server, version: str) -> requests.Response:
    return requests.post(f"{server['url']}/admin/models/{server['name']}/deploy", json={"version": version}, headers=server["admin"], timeout=120)


def answers_over_new_connections(server, tries: int = 200) -> dict[int, set[str]]:
    """The version each worker serves, asking over a new connection each time until both answered."""
    seen: dict[int, set[str]] = {}
    for attempt in range(tries):
        health = requests.get(f"{server['url']}/health", timeout=10).json()  # no session: a new connection
        described = requests.get(f"{server['url']}/models/{server['name']}", timeout=10).json()
        seen.setdefault(health["worker"], set()).update({health["models"].get(server["name"]), described["version"]})
        if len(seen) >= 2 and attempt >= 40:
            break
    return seen


def test_deploy_and_rollback_reach_every_worker(two_workers):
    first, second = two_workers["versions"]
    for version in (first, second, first):  # deploy, deploy a new version, roll back
        answer = deploy(two_workers, version)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == version and answer.json()["workers"] == 2
        seen = answers_over_new_connections(two_workers)
        assert len(seen) == 2, f"only one worker answered: {seen}"
        assert all(versions == {version} for versions in seen.values()), f"after deploying {version}: {seen}"


def test_metrics_add_up_over_the_workers(two_workers):
    url, name = two_workers["url"], two_workers["name"]
    assert deploy(two_workers, two_workers["versions"][0]).status_code == 200
    before = requests.get(f"{url}/metrics", timeout=10).text
    payload = {"dataframe_split": {"columns": COLUMNS, "data": [GOOD_ROW] * 2}}
    answered_by = set()
    for _ in range(20):  # new connections: the kernel spreads them over both workers
        answer = requests.post(f"{url}/models/{name}/invocations", json=payload, timeout=30)
        assert answer.status_code == 200, answer.text
        answered_by.add(requests.get(f"{url}/health", timeout=10).json()["worker"])
    scrapes = [requests.get(f"{url}/metrics", timeout=10).text for _ in range(6)]  # whichever worker answers
    for after in scrapes:
        assert metric(after, "ct_serving_requests_total", model=name, status="200") - metric(before, "ct_serving_requests_total", model=name, status="200") == 20
        assert metric(after, "ct_serving_request_seconds_count", model=name) - metric(before, "ct_serving_request_seconds_count", model=name) == 20
        assert metric(after, "ct_serving_model_version", model=name) == float(two_workers["versions"][0])
        assert metric(after, "ct_serving_model_info", model=name, version=two_workers["versions"][0]) == 1.0
    assert len(answered_by) == 2


def test_a_dead_worker_does_not_block_a_deploy(two_workers):
    first, second = two_workers["versions"]
    assert deploy(two_workers, first).status_code == 200
    victim = requests.get(f"{two_workers['url']}/health", timeout=10).json()["worker"]
    os.kill(victim, signal.SIGKILL)
    started = time.monotonic()
    answer = deploy(two_workers, second)
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < 40  # well inside the sync timeout: the dead worker was not waited for
    # uvicorn starts a replacement, which restores what deployed.json names.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = answers_over_new_connections(two_workers, tries=60)
        if len(seen) == 2 and victim not in seen:
            break
        time.sleep(1)
    assert victim not in seen and len(seen) == 2 and all(v == {second} for v in seen.values()), seen


def test_two_writers_keep_the_prediction_log_whole(two_workers):
    url, name = two_workers["url"], two_workers["name"]
    ids = [f"two-writers-{i}" for i in range(30)]
    for request_id in ids:
        answer = requests.post(f"{url}/models/{name}/invocations", json={"dataframe_split": {"columns": COLUMNS, "data": [GOOD_ROW] * 3}}, headers={"X-Request-Id": request_id}, timeout=30)
        assert answer.status_code == 200
    root = two_workers["home"] / "monitoring" / "predictions"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [r for r in read_records(root, name, 0, 4e9) if r["request_id"] in ids]
        if len(found) == 3 * len(ids):
            break
        time.sleep(0.2)
    assert sorted((r["request_id"], r["row"]) for r in found) == sorted((i, row) for i in ids for row in range(3))
    lines = [line for path in root.glob(f"{name}/date=*/hour=*.jsonl") for line in path.read_text().splitlines()]
    assert all(line.startswith("{") and line.endswith("}") for line in lines)
