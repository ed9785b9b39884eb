"""A train try killed with SIGKILL, then its retry: the killed try's MLflow run ends FAILED and says it
was interrupted (and whether memory ran out), the retry's log names the run it closed, and the DAG run
still yields exactly one complete version. The killed try is a real process running the real operator."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.mlflow import TrainModelOperator

from include.fingerprint import compute_fingerprint
from include.spec import load_spec
from include.training_recovery import INTERRUPTED_REASON_TAG, INTERRUPTED_TAG, TRAINING_KEY, start_tags
from tests.operators.conftest import PENGUINS, dag_run
from tests.support.processes import ROOT

pytestmark = pytest.mark.services
MODEL = "penguin_species"
# Enough trees that the fit lasts seconds: the test sees the open run and kills the try inside it.
SLOW = {"n_estimators": 1500}

TRY = """
import json, sys
from types import SimpleNamespace
from ct_airflow.operators.mlflow import TrainModelOperator
from tests.operators.conftest import dag_run
spec_path, md5, remote, fingerprint, run_id, overrides = sys.argv[1:7]
context = {"run_id": run_id, "dag": SimpleNamespace(dag_id="penguin_species"), "ti": SimpleNamespace(try_number=1), "params": {},
           "dag_run": dag_run("penguin_species", run_id)}
TrainModelOperator(task_id="train", spec_path=spec_path, data_md5=md5, data_remote=remote, fingerprint=json.loads(fingerprint),
                   overrides=json.loads(overrides)).execute(context)
"""


def context(run_id: str, try_number: int) -> dict:
    return {"run_id": run_id, "dag": SimpleNamespace(dag_id=MODEL), "ti": SimpleNamespace(try_number=try_number), "params": {}, "dag_run": dag_run(MODEL, run_id)}


def train(version, fingerprint, run_id: str, try_number: int, overrides=None) -> dict:
    return TrainModelOperator(
        task_id="train", spec_path=PENGUINS, data_md5=version.md5, data_remote=version.remote, fingerprint=fingerprint, overrides=overrides or {},
    ).execute(context(run_id, try_number))


def runs_of(client, key: str):
    experiment = client.get_experiment_by_name(MODEL)
    return [] if experiment is None else client.search_runs([experiment.experiment_id], filter_string=f"tags.{TRAINING_KEY} = '{key}'")


@pytest.fixture
def snapshot(penguin_snapshot):
    _, version = penguin_snapshot
    return version, compute_fingerprint(version.md5, load_spec(PENGUINS).training_config())


def test_a_try_killed_mid_fit_is_closed_failed_and_named_by_the_retry(settings, snapshot, caplog, tmp_path):
    version, fingerprint = snapshot
    client = MlflowRegistryHook().registry.client
    key = f"{MODEL}/killed_run"
    args = [PENGUINS, version.md5, version.remote, json.dumps(fingerprint), "killed_run", json.dumps(SLOW)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    output = tmp_path / "killed-try.log"
    with open(output, "wb") as out:
        killed_try = subprocess.Popen([sys.executable, "-c", TRY, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not [r for r in runs_of(client, key) if r.info.status == "RUNNING"]:
            assert killed_try.poll() is None, f"the try ended before it could be killed:\n{output.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the try never started its MLflow run"
            time.sleep(0.05)
        os.kill(killed_try.pid, signal.SIGKILL)  # the task process itself, as the kill did
        assert killed_try.wait(timeout=30) == -signal.SIGKILL
    finally:
        if killed_try.poll() is None:
            killed_try.kill()
            killed_try.wait()
    [left] = runs_of(client, key)
    assert left.info.status == "RUNNING", "SIGKILL leaves the run open: nothing in the try could end it"
    assert not left.data.metrics, "killed after the fit (metrics logged): the run must be findable while the model is fitted"

    caplog.set_level(logging.INFO, logger="include.training_recovery")
    retried = train(version, fingerprint, "killed_run", try_number=2, overrides=SLOW)

    closed = client.get_run(left.info.run_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags[INTERRUPTED_TAG] == "true"
    reason = closed.data.tags[INTERRUPTED_REASON_TAG]
    assert reason.startswith("try 1 stopped without ending its run (status RUNNING): it was killed (SIGKILL, signal 9)"), reason
    # The kernel's OOM count at the try's start against now, on this machine: memory is named only if it ran out.
    assert "/proc/vmstat oom_kill" in reason and ("not for lack of memory" in reason or "possibly for lack of memory" in reason), reason
    assert f"closed MLflow run {left.info.run_id} as FAILED (was RUNNING), tagged {INTERRUPTED_TAG}=true: try 1" in caplog.text, caplog.text

    versions = client.search_model_versions(f"name = '{MODEL}' and tags.{TRAINING_KEY} = '{key}'")
    assert [str(mv.version) for mv in versions] == [retried["version"]] and versions[0].tags["training_complete"] == "true"
    assert sorted(r.info.status for r in runs_of(client, key)) == ["FAILED", "FINISHED"]


def test_a_try_killed_while_registering_leaves_a_finished_run_the_retry_fails(settings, snapshot, caplog):
    """The issue's 'run left FINISHED with no model': the run had ended, the version was never completed."""
    import mlflow

    version, fingerprint = snapshot
    registry = MlflowRegistryHook().registry
    key = f"{MODEL}/register_run"
    registry.activate()
    with mlflow.start_run(experiment_id=registry.experiment_id(MODEL), tags=start_tags(key, 1)) as run:
        pass  # what the killed try left: its run ended FINISHED, its version never registered and completed

    caplog.set_level(logging.INFO, logger="include.training_recovery")
    retried = train(version, fingerprint, "register_run", try_number=2)

    finished = registry.client.get_run(run.info.run_id)
    assert (finished.info.status, finished.data.tags[INTERRUPTED_TAG]) == ("FAILED", "true")
    assert finished.data.tags[INTERRUPTED_REASON_TAG].startswith("try 1 ended its run but never completed its version (killed, or failed, while registering it)")
    assert f"closed MLflow run {run.info.run_id} as FAILED (was FINISHED)" in caplog.text
    # The retry's own run is not touched by a later retry: it completed its version.
    again = train(version, fingerprint, "register_run", try_number=3)
    assert again["version"] == retried["version"]
    assert registry.client.get_run(retried["run_id"]).info.status == "FINISHED"
