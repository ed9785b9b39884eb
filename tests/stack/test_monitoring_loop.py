"""The whole monitoring loop on the running platform (scheduler, LocalExecutor, model server), as operators run it:

a champion trained and served by the model DAG -> traffic shifted away from its training data sent to the model
server -> a ``<model>__monitoring`` run (triggered through the REST API) that emits an event on ``<model>__retrain``
-> the run of the model DAG the scheduler creates from that event -> trained, evaluated, promotion decided -> the
event's reason on the registered version.

Model ``loop_penguins`` (a copy of penguin_species, tests/stack/conftest.py) is this module's alone. Its champion is
trained on an older day (CHAMPION_DAY) than the latest complete day, which the retraining run owns by the README's
rule: new data, so the retraining run really trains (on the champion's own data its fingerprint would skip training).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from include.monitoring import scenarios
from include.spec import load_spec
from tests.stack.operate import aliases, at, rest_trigger, served_version, set_paused, succeeded, version_of_run, xcom

pytestmark = pytest.mark.stack
MODEL = "loop_penguins"
MONITORING = f"{MODEL}__monitoring"
# An older window than the latest complete day's (208 rows against 224 in the demo history): other data.
CHAMPION_DAY = date(2025, 12, 15)


def champion_snapshot(stack, version) -> pd.DataFrame:
    from include.versioning import DvcWorkspace

    with tempfile.TemporaryDirectory() as tmp:
        path = DvcWorkspace(stack.settings.dvc_workspace, stack.settings.dvc_remote_url).fetch(
            version.tags["data_md5"], Path(tmp) / "snapshot.parquet"
        )
        return pd.read_parquet(path)


def wait_logged(stack, request_ids: set, timeout_s: float = 60) -> None:
    """The model server writes its prediction log off the request path: wait (bounded) until it holds these requests."""
    from include.monitoring.prediction_log import read_records

    deadline = time.monotonic() + timeout_s
    while (
        missing := request_ids - {r["request_id"] for r in read_records(stack.settings.predictions_dir, MODEL, 0, 4e9)}
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not missing, f"{len(missing)} of {len(request_ids)} requests not in the prediction log of {MODEL} after {timeout_s} s"


def retrain_events(stack, monitoring_run_id: str) -> list[dict]:
    (asset,) = [a for a in stack.api.get("/assets", name_pattern=f"{MODEL}__retrain")["assets"] if a["name"] == f"{MODEL}__retrain"]
    return stack.api.get("/assets/events", asset_id=asset["id"], source_dag_id=MONITORING, source_run_id=monitoring_run_id)["asset_events"]


def asset_triggered_run(stack, monitoring_run_id: str, timeout_s: float = 300) -> dict:
    """The run the scheduler created from the event of this monitoring run (the event lists the runs it created)."""
    deadline = time.monotonic() + timeout_s
    while True:
        created = [r for e in retrain_events(stack, monitoring_run_id) for r in e.get("created_dagruns", []) if r["dag_id"] == MODEL]
        if created:
            return stack.api.get(f"/dags/{MODEL}/dagRuns/{created[0]['run_id']}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no run of {MODEL} created from the asset event of {monitoring_run_id} within {timeout_s} s; runs: "
                f"{[(r['dag_run_id'], r['run_type'], r['state']) for r in stack.runs(MODEL)]}; logs in {stack.logs}"
            )
        time.sleep(1)


def remove_nightly_run(stack, known: set[str], wait_s: float = 20) -> None:
    """With the job schedule on, this model's nightly run of the latest interval is due too (the scheduler creates it
    in the loop after the Asset-triggered one). Not part of the loop: it would wait behind the retraining
    (max_active_runs=1) and find the same data. Removed while it is queued."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for run in stack.runs(MODEL):
            if run["dag_run_id"] not in known and run["run_type"] == "scheduled" and run["state"] == "queued":
                # SQLite lets one writer in at a time: a DELETE that met the scheduler writing answers 500
                # ("Database error", rolled back) and is sent again.
                for _ in range(10):
                    response = requests.delete(
                        f"{stack.url}/api/v2/dags/{MODEL}/dagRuns/{run['dag_run_id']}", headers=stack.api.headers, timeout=60
                    )
                    if response.status_code != 500:
                        break
                    time.sleep(1)
                assert response.status_code == 204, (
                    f"DELETE {MODEL} run {run['dag_run_id']}: expected 204, found {response.status_code}: {response.text}"
                )
                print(f"\n[stack] removed {MODEL}'s nightly run {run['dag_run_id']}, created with the job schedule on")
                return
        time.sleep(1)


@pytest.fixture(autouse=True)
def _paused_afterwards(stack):
    """Left paused: with the job schedule on (test_run_starts.py turns it on), an unpaused copy would start nightly runs."""
    yield
    for dag_id in (MODEL, MONITORING):
        set_paused(stack, dag_id, True)


def test_shifted_traffic_makes_the_scheduler_retrain_the_model_with_the_drift_reason_on_the_version(stack):
    started = time.monotonic()
    spec = load_spec(Path(stack.env["CT_MODELS_DIR"]) / f"{MODEL}.yaml")
    set_paused(stack, MODEL, False)
    set_paused(stack, MONITORING, False)

    # 1. A served champion, trained on CHAMPION_DAY.
    champion_run = "loop_champion"
    rest_trigger(
        stack,
        MODEL,
        champion_run,
        {"day": CHAMPION_DAY.isoformat(), "force_retrain": True, "reason": "stack test: the champion to monitor"},
    )
    succeeded(stack, MODEL, champion_run)
    champion = version_of_run(stack, MODEL, champion_run)
    champion_version = str(champion.version)  # MLflow answers an int here, a str in aliases and tags
    assert aliases(stack, MODEL).get("champion") == champion_version, (
        f"{MODEL}: expected version {champion_version} of {champion_run} as champion, found aliases {aliases(stack, MODEL)}"
    )
    assert served_version(stack, MODEL) == champion_version, (
        f"{MODEL}: expected the model server to serve {champion_version}, found {served_version(stack, MODEL)}"
    )

    # 2. Traffic shifted away from the champion's training data, sent to the model server.
    traffic = scenarios.shifted(spec, champion_snapshot(stack, champion), 150, seed=13)
    answered = scenarios.send(stack.serving_url, MODEL, traffic[spec.features.all])
    wait_logged(stack, {rid for rid, _, _ in answered})

    # 3. The monitoring run, executed by the scheduler, judges drift and emits the retrain event.
    monitoring_run = "loop_monitoring"
    rest_trigger(stack, MONITORING, monitoring_run)
    monitoring = succeeded(stack, MONITORING, monitoring_run, timeout_s=600)
    states = stack.task_states(MONITORING, monitoring_run)
    verdict = xcom(stack, MONITORING, monitoring_run, "monitor")
    assert states == {"monitor": "success", "request_retraining": "success"}, (
        f"{monitoring_run}: expected both tasks to succeed (retraining requested), found {states}; verdict {verdict}"
    )
    assert str(verdict["version"]) == champion_version and verdict["retrain"] is True and verdict["live_rows"] >= 150, (
        f"{monitoring_run}: expected a retrain verdict on version {champion_version} from >= 150 live rows, found {verdict}"
    )
    assert "drift in" in verdict["reason"], f"{monitoring_run}: expected a drift reason, found {verdict['reason']!r}"
    (event,) = retrain_events(stack, monitoring_run)
    assert event["extra"]["reason"] == verdict["reason"] and event["extra"]["model_version"] == champion_version, (
        f"asset event of {monitoring_run}: {event}"
    )

    # 4. The scheduler creates the model's run from the event and runs it. The stack runs without the job schedule
    # (tests choose their runs), which also stops Asset-triggered runs: on until the retraining has run (restarting
    # the scheduler mid-run would stop its LocalExecutor's tasks). Meanwhile every other DAG is paused (no nightly run
    # competes or lands in another test's count), the monitoring DAG too (its hourly run would ask again).
    set_paused(stack, MONITORING, True)
    unpaused = [d["dag_id"] for d in stack.api.get("/dags", paused=False, limit=100)["dags"] if d["dag_id"] != MODEL]
    before = {r["dag_run_id"] for r in stack.runs(MODEL)}
    for dag_id in unpaused:
        set_paused(stack, dag_id, True)
    stack.restart_scheduler(AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True")
    try:
        retraining = asset_triggered_run(stack, monitoring_run)
        assert retraining["run_type"] == "asset_triggered" and retraining["logical_date"] is None, retraining
        remove_nightly_run(stack, before | {retraining["dag_run_id"]})
        # 5. The retraining run, executed to a judged challenger.
        run_id = retraining["dag_run_id"]
        retrained = succeeded(stack, MODEL, run_id)
    finally:
        stack.restart_scheduler()
        for dag_id in unpaused:
            set_paused(stack, dag_id, False)
    states = stack.task_states(MODEL, run_id)
    assert (states["train"], states["evaluate"]) == ("success", "success") and states["promote"] in ("success", "skipped"), (
        f"{run_id}: expected train and evaluate to succeed and promote decided, found {states}"
    )
    judged = xcom(stack, MODEL, run_id, "evaluate")
    challenger = version_of_run(stack, MODEL, run_id)
    latest = datetime.now(UTC).date() - timedelta(days=1)
    tags = challenger.tags
    assert tags.get("data_days") == latest.isoformat() and tags.get("run_type") == "asset_triggered", (
        f"version {challenger.version}: expected the latest complete day {latest} and run_type asset_triggered, found {tags}"
    )
    assert (
        tags.get("training_complete") == "true"
        and tags.get("compared_with_champion") == champion_version
        and tags.get("decision") == ("promote" if judged["promote"] else "reject")
    ), f"version {challenger.version}: expected a complete version judged against champion {champion_version} ({judged}), found {tags}"

    # 6. Why it was trained, on the version: the monitoring run, the judged version and the drift reason.
    reason = tags.get("retrain_reason", "")
    for says in (f"{MONITORING}/{monitoring_run}", f"version {champion_version}", verdict["reason"]):
        assert says in reason, f"version {challenger.version}: expected retrain_reason to contain {says!r}, found {reason!r}"
    now_champion = aliases(stack, MODEL).get("champion")
    assert now_champion == (str(challenger.version) if judged["promote"] else champion_version), (
        f"decision {judged}; champion now {now_champion}"
    )
    if judged["promote"]:
        assert tags.get("promotion_airflow_run_id") == run_id, tags

    print(
        f"[stack] monitoring loop: champion {champion_version} ({champion_run}), {monitoring_run} {monitoring['seconds']} s, "
        f"event {event['id']} at {event['timestamp']} -> {run_id} queued at {retraining['queued_at']}, trained and judged in {retrained['seconds']} s: "
        f"version {challenger.version} {tags['decision']} ({judged['reason']}); event -> retraining queued "
        f"{(at(retraining['queued_at']) - at(event['timestamp'])).total_seconds():.1f} s; whole test {time.monotonic() - started:.0f} s"
    )
