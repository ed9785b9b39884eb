"""A SIGKILL of the running ``train`` task's own process on the running platform (LocalExecutor), then Airflow's
retry: exactly one new, complete version, and no alias on anything else.

On LocalExecutor the scheduler's executor worker (``airflow worker -- LocalExecutor: <ti>``) supervises the task it
runs in a forked child (``airflow worker -- <ti>``); the task instance's ``pid`` in the REST API is that child's. The
test checks that on /proc (the chain up to the scheduler) before killing it, so that what it kills is the task and
not the executor or its supervisor, and kills it while the try's MLflow run is open.
Model ``killed_penguins`` (a copy of penguin_species, tests/stack/conftest.py) is this module's alone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from include.training_recovery import INTERRUPTED_REASON_TAG, INTERRUPTED_TAG
from tests.stack.conftest import registry
from tests.stack.operate import aliases, at, rest_trigger, served_version, set_paused, succeeded, versions_of_run

pytestmark = pytest.mark.stack
MODEL = "killed_penguins"


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid in /proc/{pid}/status")


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


def ancestry(pid: int) -> list[tuple[int, str]]:
    chain = []
    while pid > 1:
        chain.append((pid, _cmdline(pid)[:100]))
        pid = _parent(pid)
    return chain


def open_training_run(client, key: str):
    experiment = client.get_experiment_by_name(MODEL)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.training_key = '{key}' and attributes.status = 'RUNNING'")
    return runs[0] if runs else None


@pytest.fixture(autouse=True)
def _paused_afterwards(stack):
    """Left paused: with the job schedule on (test_run_starts.py turns it on), an unpaused copy would start nightly runs."""
    yield
    set_paused(stack, MODEL, True)


def test_a_killed_train_task_is_retried_and_registers_exactly_one_complete_version(stack):
    set_paused(stack, MODEL, False)
    run_id = "killed_train"
    key = f"{MODEL}/{run_id}"
    client = registry(stack).client
    rest_trigger(stack, MODEL, run_id, {"force_retrain": True, "reason": "stack test: the train task is killed once"})

    # Wait until this run's training has its MLflow run open (the fit and the model upload happen inside it).
    deadline = time.monotonic() + 600
    while (open_run := open_training_run(client, key)) is None:
        run = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}")
        assert run["state"] in ("queued", "running"), (
            f"{run_id} ended ({run['state']}) before its training run was seen open: {stack.task_states(MODEL, run_id)}"
        )
        assert time.monotonic() < deadline, (
            f"{run_id}: no open MLflow run tagged training_key={key} within 600 s: {stack.task_states(MODEL, run_id)}"
        )
        time.sleep(0.1)
    ti = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}/taskInstances/train")
    assert ti["state"] == "running" and ti["try_number"] == 1 and ti["pid"], f"expected train's first try running with a pid, found {ti}"
    pid = ti["pid"]
    chain = ancestry(pid)
    scheduler = stack.components.started["scheduler"].pid
    # The pid is the task's own process: at least two levels below the scheduler (scheduler -> executor worker, which
    # supervises -> task), so neither the scheduler nor the executor's worker.
    below = [p for p, _ in chain].index(scheduler) if scheduler in [p for p, _ in chain] else -1
    assert below >= 2, (
        f"train's pid {pid}: expected a task process under supervisor and executor worker of the scheduler {scheduler}, found the chain {chain}"
    )
    print(f"\n[stack] killing train's process {pid}; its ancestry: {chain[: below + 1]}")
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()

    run = succeeded(stack, MODEL, run_id)
    tries = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}/taskInstances/train/tries")["task_instances"]
    found = [(t["try_number"], t["state"]) for t in tries]
    assert [n for n, _ in found] == [1, 2] and found[0][1] in ("failed", "up_for_retry") and found[1][1] == "success", (
        f"train: expected try 1 failed (killed) and try 2 success, found {found}"
    )
    retry_start = at(tries[1]["start_date"]).timestamp()
    print(
        f"[stack] SIGKILL -> retry running: {retry_start - killed_at:.1f} s (retry delay {stack.env['CT_TASK_RETRY_DELAY_S']} s); trigger -> success {run['seconds']} s"
    )

    # Exactly one version from this run, complete; the killed try's MLflow run closed as FAILED by the retry.
    versions = versions_of_run(stack, MODEL, run_id)
    assert len(versions) == 1 and versions[0].tags.get("training_complete") == "true", (
        f"{key}: expected exactly one version tagged training_complete=true, found {[(v.version, dict(v.tags)) for v in versions]}"
    )
    (version,) = versions
    experiment = client.get_experiment_by_name(MODEL).experiment_id
    runs = {r.info.run_id: r for r in client.search_runs([experiment], filter_string=f"tags.training_key = '{key}'")}
    statuses = sorted((r.info.status, r.info.run_id == version.run_id) for r in runs.values())
    assert statuses == [("FAILED", False), ("FINISHED", True)], (
        f"{key}: expected the killed try's run FAILED and the version's run FINISHED, found {[(r.info.run_id, r.info.status) for r in runs.values()]}"
    )
    killed = runs[open_run.info.run_id]
    assert killed.info.status == "FAILED" and killed.data.tags.get(INTERRUPTED_TAG) == "true" and killed.data.tags.get(INTERRUPTED_REASON_TAG), (
        f"the run open when the task was killed ({open_run.info.run_id}) must end FAILED and tagged {INTERRUPTED_TAG}, found {killed.info.status} {killed.data.tags}"
    )

    # Every alias points at a complete version; the model server serves the champion.
    current = aliases(stack, MODEL)
    incomplete = {a: v for a, v in current.items() if client.get_model_version(MODEL, v).tags.get("training_complete") != "true"}
    assert current and not incomplete, f"{MODEL}: aliases {current}; pointing at versions not tagged training_complete=true: {incomplete}"
    if "champion" in current:
        assert served_version(stack, MODEL) == current["champion"], f"served {served_version(stack, MODEL)}, champion {current['champion']}"
    print(f"[stack] {MODEL}: version {version.version} from {run_id}; aliases {current}")
