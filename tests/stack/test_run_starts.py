"""Every way a run of a model starts, on the running platform (tests/stack/conftest.py: api-server, scheduler,
dag-processor, triggerer, LocalExecutor), and the days each run owns by the README's rule.

The REST API and the CLI without a logical date, the CLI with one, a named past day (CLI and REST), a day not yet
complete (refused at once), a future logical date (refused by the API server), a scheduled run and an event on
the Asset ``penguin_species__retrain``. Each asserts
what the run ingested (ingest's XCom ``run_window``) and its outcome; the one run that trains (the REST named day,
dry run) also the version's tags. ``penguin_species`` only: test_backfill.py owns ``seattle_temp_max``'s versions.
Penguin eggs are laid in December, so the windows of late November hold the same rows: all but one run skip
training on the fingerprint, which keeps this module to a few minutes.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from tests.stack.conftest import registry, unpause

pytestmark = pytest.mark.stack
MODEL = "penguin_species"
OTHER_MODEL = "seattle_temp_max"
NAMED_DAY = date(2026, 11, 20)
# Per run: queued -> end (includes waiting behind the runs queued before it) and start -> end, in seconds, for the
# record (printed at the end of the module, kept in the stack's log folder).
DURATIONS: dict[str, dict[str, float]] = {}


def latest_complete_day() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def rest_trigger(stack, run_id: str, conf: dict, logical_date: str | None = None) -> None:
    response = requests.post(
        f"{stack.url}/api/v2/dags/{MODEL}/dagRuns", headers=stack.api.headers, timeout=60,
        json={"dag_run_id": run_id, "logical_date": logical_date, "conf": conf},
    )
    assert response.status_code in (200, 201), f"POST /dags/{MODEL}/dagRuns {run_id}: expected 200/201, found {response.status_code}: {response.text}"


def cli_trigger(stack, run_id: str, *args: str) -> None:
    stack.airflow_cli("dags", "trigger", MODEL, "--run-id", run_id, *args)


def finished(stack, run_id: str, timeout_s: float = 900) -> dict:
    """The run once it is no longer queued or running; its trigger -> end time goes to DURATIONS."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            end = _at(run["end_date"])
            DURATIONS[run_id] = {"queued_to_end": round((end - _at(run["queued_at"])).total_seconds(), 1),
                                 "start_to_end": round((end - _at(run["start_date"])).total_seconds(), 1) if run["start_date"] else None}
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"{MODEL} run {run_id} still {run['state']} after {timeout_s} s: {stack.task_states(MODEL, run_id)}; logs in {stack.logs}")
        time.sleep(2)


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_window(stack, run_id: str) -> dict:
    """What ingest recorded: the days the run owned and which part of the rule gave them."""
    entry = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}/taskInstances/ingest/xcomEntries/run_window")
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def assert_owns(stack, run_id: str, day: date, basis: str) -> dict:
    window = run_window(stack, run_id)
    expected = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat(), "days": day.isoformat()}
    found = {k: window.get(k) for k in expected}
    assert found == expected and basis in window["basis"], f"run {run_id}: expected it to own {expected} ({basis!r}), ingest recorded {window}"
    return window


def assert_succeeded(stack, run: dict) -> dict[str, str]:
    states = stack.task_states(MODEL, run["dag_run_id"])
    assert run["state"] == "success", f"run {run['dag_run_id']}: expected success, found {run['state']}: {states}"
    assert states["fingerprint"] == "success" and states["train"] in ("success", "skipped"), states
    return states


def task_log(stack, run_id: str, task_id: str, try_number: int = 1) -> str:
    response = requests.get(
        f"{stack.url}/api/v2/dags/{MODEL}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        headers={**stack.api.headers, "Accept": "application/json"}, params={"full_content": "true"}, timeout=60,
    )
    response.raise_for_status()
    return json.dumps(response.json())


def test_a_day_not_yet_complete_is_refused_at_once_and_blocks_nothing(stack):
    unpause(stack, MODEL)
    today = datetime.now(timezone.utc).date()
    run_id = "rest_future_day"
    rest_trigger(stack, run_id, {"day": (today + timedelta(days=1)).isoformat()})
    run = finished(stack, run_id)
    assert run["state"] == "failed", f"{run_id}: a run named by a day not yet complete must fail, found {run['state']}"
    tis = {ti["task_id"]: ti for ti in stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]}
    # Refused by the first task, on its first try (a verdict, not retried), before any data is read.
    assert (tis["ingest"]["state"], tis["ingest"]["try_number"]) == ("failed", 1), tis["ingest"]
    assert all(ti["state"] in ("upstream_failed", None) for name, ti in tis.items() if name != "ingest"), {n: t["state"] for n, t in tis.items()}
    log = task_log(stack, run_id, "ingest")
    latest = today - timedelta(days=1)
    for says in (f"day {today + timedelta(days=1)} is not complete", f"Allowed days: {latest} or earlier"):
        assert says in log, f"ingest log of {run_id}: expected {says!r}; log tail: {log[-1500:]}"

    # A future logical date would never start: the API server refuses it (the form posts to the same endpoint).
    tomorrow = f"{today + timedelta(days=1)}T00:00:00+00:00"
    response = requests.post(
        f"{stack.url}/api/v2/dags/{MODEL}/dagRuns", headers=stack.api.headers, timeout=60,
        json={"dag_run_id": "rest_future_logical_date", "logical_date": tomorrow, "conf": {}},
    )
    assert response.status_code == 400 and '"day": "YYYY-MM-DD"' in response.json()["detail"], f"expected 400 naming the day Param, found {response.status_code}: {response.text}"
    assert "rest_future_logical_date" not in {r["dag_run_id"] for r in stack.runs(MODEL)}


def test_manual_runs_from_the_rest_api_and_the_cli_with_and_without_a_date_or_a_named_day(stack):
    unpause(stack, MODEL)
    latest = latest_complete_day()
    reason = "stack test: a named day's model"
    # All at once: max_active_runs=1 runs them one after the other, in this order.
    rest_trigger(stack, "rest_no_date", {})
    cli_trigger(stack, "cli_no_date", "--conf", json.dumps({"force_retrain": False}))
    # The issue's case: a logical date. Airflow's CLI infers the interval from the trigger time; the rule reads the logical date.
    logical = datetime.combine(latest - timedelta(days=5), datetime.min.time(), tzinfo=timezone.utc)
    cli_trigger(stack, "cli_logical_date", "--logical-date", logical.isoformat())
    cli_trigger(stack, "cli_named_day", "--conf", json.dumps({"day": NAMED_DAY.isoformat()}))
    # The one run that trains: its version must carry the named day. A dry run promotes and deploys nothing.
    rest_trigger(stack, "rest_named_day", {"day": NAMED_DAY.isoformat(), "force_retrain": True, "dry_run": True, "reason": reason})

    for run_id in ("rest_no_date", "cli_no_date"):
        assert_succeeded(stack, finished(stack, run_id))
        assert_owns(stack, run_id, latest, "latest complete day before it was triggered")
    assert_succeeded(stack, finished(stack, "cli_logical_date"))
    assert_owns(stack, "cli_logical_date", logical.date() - timedelta(days=1), f"latest complete day before its logical date {logical.isoformat()}")
    for run_id in ("cli_named_day", "rest_named_day"):
        assert_succeeded(stack, finished(stack, run_id))
        assert_owns(stack, run_id, NAMED_DAY, f"day {NAMED_DAY} named in the run's conf")

    states = stack.task_states(MODEL, "rest_named_day")
    assert (states["train"], states["evaluate"], states["promote"]) == ("success", "success", "skipped"), states
    (version,) = [v for v in registry(stack).client.search_model_versions(f"name = '{MODEL}'") if v.tags.get("airflow_run_id") == "rest_named_day"]
    end = NAMED_DAY + timedelta(days=1)
    expected = {"data_days": NAMED_DAY.isoformat(), "data_until": end.isoformat(), "data_interval_end": f"{end.isoformat()}T00:00:00+00:00",
                "run_type": "manual", "dry_run": "true", "trigger_reason": reason}
    assert {k: version.tags.get(k) for k in expected} == expected, f"version {version.version} of {MODEL}: expected tags {expected}, found {version.tags}"


def test_a_scheduled_run_and_a_retrain_asset_event_own_the_latest_complete_day(stack):
    """The stack runs without the scheduler's job schedule (tests choose their runs), which also stops it from
    creating Asset-triggered runs: this test turns it on for penguin_species only, and off again."""
    unpause(stack, MODEL)
    stack.api.patch(f"/dags/{OTHER_MODEL}", {"is_paused": True})  # no nightly run of the other model
    before = {r["dag_run_id"] for r in stack.runs(MODEL)}
    stack.restart_scheduler(AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True")
    try:
        (asset,) = [a for a in stack.api.get("/assets", name_pattern=f"{MODEL}__retrain")["assets"] if a["name"] == f"{MODEL}__retrain"]
        reason = "drift in 1 feature(s): flipper_length_mm"
        response = requests.post(
            f"{stack.url}/api/v2/assets/events", headers=stack.api.headers, timeout=60,
            json={"asset_id": asset["id"], "extra": {"reason": reason, "source": f"{MODEL}__monitoring/stack-test", "model_version": "1"}},
        )
        assert response.status_code in (200, 201), f"POST /assets/events: expected 200/201, found {response.status_code}: {response.text}"
        runs = _new_runs(stack, before, {"scheduled", "asset_triggered"})
    finally:
        stack.restart_scheduler()
    latest = latest_complete_day()

    scheduled = finished(stack, runs["scheduled"]["dag_run_id"])
    assert_succeeded(stack, scheduled)
    # catchup=False: the run of the latest complete interval; @daily, so its logical date is the day it owns.
    assert _at(scheduled["logical_date"]).date() == latest, scheduled
    assert_owns(stack, scheduled["dag_run_id"], latest, "scheduled run: its data interval")

    triggered = finished(stack, runs["asset_triggered"]["dag_run_id"])
    assert_succeeded(stack, triggered)
    assert triggered["logical_date"] is None, triggered
    window = assert_owns(stack, triggered["dag_run_id"], latest, "latest complete day before it was triggered")
    assert reason in window.get("retrain_reason", ""), f"the asset-triggered run's ingest recorded {window}, expected the event's reason {reason!r}"


def _new_runs(stack, before: set[str], run_types: set[str], timeout_s: float = 300) -> dict[str, dict]:
    """The first new run of each type once all of them exist (the scheduler creates them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for run in stack.runs(MODEL):
            if run["dag_run_id"] not in before and run["run_type"] in run_types:
                found.setdefault(run["run_type"], run)
        if set(found) == run_types:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected new {sorted(run_types)} runs of {MODEL} within {timeout_s} s, found {sorted(found)}; logs in {stack.logs}")
        time.sleep(2)


@pytest.fixture(scope="module", autouse=True)
def _record_durations(stack):
    yield
    (stack.logs / "run_starts_durations.json").write_text(json.dumps(DURATIONS, indent=2))
    print("\nrun durations (s):", json.dumps(DURATIONS))
