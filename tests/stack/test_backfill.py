"""`airflow backfill create` against the running platform: days in order, snapshots and versions
per day, a second backfill trains nothing, and no older day's model replaces a newer champion."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from include.registry import CHAMPION
from tests.stack.conftest import registry, trigger, unpause

pytestmark = pytest.mark.stack
MODEL = "seattle_temp_max"
MODEL_TASKS = ("train", "evaluate")
NEWEST_DAY = date(2026, 6, 20)  # the demo history ends 2026-12-31 in tests
# The backfilled days train a model certainly worse than the champion (five depth-1 trees): evaluation
# rejects it, deterministically (fixed data, random_state 0). The backfill guard, which stops an older
# day's model that does pass evaluation, is tested both ways in tests/operators/test_operator_experience.py.
WEAK = '{"overrides": {"n_estimators": 5, "max_depth": 1}}'


def model_versions(stack) -> dict[str, dict]:
    return {str(mv.version): dict(mv.tags) for mv in registry(stack).client.search_model_versions(f"name = '{MODEL}'")}


def second_backfill(stack, *args: str, wait_s: float = 300):
    """`airflow backfill create` again: the first backfill counts as running until the scheduler marks it complete."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return stack.airflow_cli("backfill", "create", *args)
        except AssertionError as exc:
            if "AlreadyRunningBackfill" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(5)


def test_backfill_runs_days_in_order_is_idempotent_and_keeps_the_newer_champion(stack):
    # The champion comes from the newest day (the stack runs no nightly schedule: nothing else trains).
    unpause(stack, MODEL)
    run_id = trigger(stack, MODEL, f"{NEWEST_DAY}T00:00:00Z")
    (newest,) = stack.wait_for_runs(MODEL, 1)
    assert newest["state"] == "success", stack.task_states(MODEL, run_id)
    champion = registry(stack).by_alias(MODEL, CHAMPION)
    newest_day = date.fromisoformat(champion.tags["data_until"])
    assert newest_day == NEWEST_DAY

    # Two older days, well inside the demo history.
    first, last = newest_day - timedelta(days=12), newest_day - timedelta(days=11)
    # A backfill's own --max-active-runs (default 10) overrides the DAG's: one at a time keeps the days in order.
    out = stack.airflow_cli("backfill", "create", "--dag-id", MODEL, "--from-date", first.isoformat(), "--to-date", last.isoformat(), "--max-active-runs", "1",
                            "--dag-run-conf", WEAK)
    assert "backfill" in (out.stdout + out.stderr).lower()
    runs = stack.wait_for_runs(MODEL, 3)
    backfill_runs = [r for r in runs if r["run_type"] == "backfill"]
    assert [r["state"] for r in backfill_runs] == ["success", "success"], [(r["dag_run_id"], stack.task_states(MODEL, r["dag_run_id"])) for r in backfill_runs]
    # Days in order: each day started after the previous one ended.
    assert backfill_runs[0]["end_date"] <= backfill_runs[1]["start_date"]

    versions = model_versions(stack)
    by_day = {tags["data_until"]: (version, tags) for version, tags in versions.items()}
    assert sorted(by_day) == [(first + timedelta(days=1)).isoformat(), (last + timedelta(days=1)).isoformat(), newest_day.isoformat()]
    # One snapshot per day, each pushed to the DVC remote under its md5.
    md5s = {tags["data_md5"] for _, tags in by_day.values()}
    assert len(md5s) == 3
    remote = stack.settings.home / "dvc-remote"
    for md5 in md5s:
        assert list(remote.rglob(md5[2:] + "*")), f"snapshot {md5} is not in the DVC remote {remote}"
    # The older days trained and were evaluated against the champion, which stays.
    for day in sorted(by_day)[:2]:
        _, tags = by_day[day]
        assert tags["decision"] == "reject" and tags["compared_with_champion"] == champion.version, tags
        assert tags["run_type"] == "backfill"
    assert registry(stack).by_alias(MODEL, CHAMPION).version == champion.version
    for run in backfill_runs:
        states = stack.task_states(MODEL, run["dag_run_id"])
        assert [states[t] for t in MODEL_TASKS] == ["success", "success"] and states["promote"] == "skipped", states

    # The same backfill again (re-running completed days) trains nothing new: every training is skipped.
    second_backfill(stack, "--dag-id", MODEL, "--from-date", first.isoformat(), "--to-date", last.isoformat(), "--max-active-runs", "1", "--reprocess-behavior", "completed",
                    "--dag-run-conf", WEAK)
    ended_before = {r["dag_run_id"]: r["end_date"] for r in backfill_runs}
    reruns = stack.wait_for_runs(MODEL, 3, rerun_after=ended_before)
    reruns = [r for r in reruns if r["run_type"] == "backfill"]
    assert all(r["state"] == "success" for r in reruns)
    for run in reruns:
        states = stack.task_states(MODEL, run["dag_run_id"])
        assert (states["fingerprint"], states["train"], states["promote"]) == ("success", "skipped", "skipped"), states
    assert model_versions(stack).keys() == versions.keys()
    assert registry(stack).by_alias(MODEL, CHAMPION).version == champion.version
