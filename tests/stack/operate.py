"""Operating the running stack as a user does, for the acceptance tests: trigger through the REST API, wait for
a run and time it, find the version a run registered, read what Airflow recorded about a run.

Runs are found by their own run id and versions by ``tags.training_key = '<model>/<run_id>'``, never by counting,
so that each test asserts what its own runs changed whatever ran before it.
"""

from __future__ import annotations

import time
from datetime import datetime

import requests

from tests.stack.conftest import registry


def rest_trigger(stack, dag_id: str, run_id: str, conf: dict | None = None) -> float:
    """POST a run without a logical date, as the UI's trigger form does; returns the time it was sent."""
    response = requests.post(
        f"{stack.url}/api/v2/dags/{dag_id}/dagRuns",
        headers=stack.api.headers,
        timeout=60,
        json={"dag_run_id": run_id, "logical_date": None, "conf": conf or {}},
    )
    assert response.status_code in (200, 201), (
        f"POST /dags/{dag_id}/dagRuns {run_id}: expected 200/201, found {response.status_code}: {response.text}"
    )
    return time.time()


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def finished(stack, dag_id: str, run_id: str, timeout_s: float = 900) -> dict:
    """The run once it is no longer queued or running, with ``seconds``: queued -> end (trigger to end)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = stack.api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return {**run, "seconds": round((at(run["end_date"]) - at(run["queued_at"])).total_seconds(), 1)}
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{dag_id} run {run_id} still {run['state']} after {timeout_s} s: {stack.task_states(dag_id, run_id)}; logs in {stack.logs}"
            )
        time.sleep(2)


def succeeded(stack, dag_id: str, run_id: str, timeout_s: float = 900) -> dict:
    run = finished(stack, dag_id, run_id, timeout_s)
    assert run["state"] == "success", (
        f"{dag_id} run {run_id}: expected success, found {run['state']}: {stack.task_states(dag_id, run_id)}; logs in {stack.logs}"
    )
    print(f"\n[stack] {dag_id} {run_id} ({run['run_type']}): queued -> success in {run['seconds']} s")
    return run


def xcom(stack, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
    import json

    value = stack.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}", deserialize=True)["value"]
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def versions_of_run(stack, model: str, run_id: str) -> list:
    """The registered versions whose training belongs to this Airflow run (all its tries)."""
    return registry(stack).client.search_model_versions(f"name = '{model}' and tags.training_key = '{model}/{run_id}'")


def version_of_run(stack, model: str, run_id: str):
    found = versions_of_run(stack, model, run_id)
    assert len(found) == 1, (
        f"{model}: expected exactly one version registered by run {run_id}, found {[(v.version, dict(v.tags)) for v in found]}"
    )
    return found[0]


def aliases(stack, model: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in registry(stack).client.get_registered_model(model).aliases.items()}


def served_version(stack, model: str) -> str | None:
    response = requests.get(f"{stack.serving_url}/models/{model}", timeout=30)
    return str(response.json().get("version")) if response.status_code == 200 else None


def set_paused(stack, dag_id: str, paused: bool) -> None:
    stack.api.patch(f"/dags/{dag_id}", {"is_paused": paused})
