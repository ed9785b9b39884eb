"""Runs that overlap (a nightly run, a backfill day, a retry after a killed worker), in one process.

The distributed tier (tests/distributed) shows the same on Celery workers; these cover each guard in
seconds against a real DVC repository and a real SQLite MLflow registry.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from ct_airflow.hooks.dvc import DvcHook
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.fingerprint import FingerprintBranchOperator
from ct_airflow.operators.ingest import IngestOperator
from ct_airflow.operators.mlflow import EvaluateModelOperator, PromoteModelOperator, TrainModelOperator

from include.registry import CHALLENGER, CHAMPION
from include.training_recovery import TRAINING_KEY
from tests.operators.conftest import PENGUINS, SEATTLE, task_context

MODEL = "penguin_species"


def ingest(run_id: str, start: str, end: str) -> dict:
    op = IngestOperator(task_id="ingest", spec_path=SEATTLE)
    return op.execute(task_context(run_id=run_id, interval=(date.fromisoformat(start), date.fromisoformat(end))))


def test_a_nightly_run_and_a_backfill_day_keep_their_own_snapshots_and_versions(settings, penguin_source):
    nightly = ingest("scheduled__2026-12-02", "2026-12-02", "2026-12-03")
    backfill = ingest("backfill__2026-11-20", "2026-11-20", "2026-11-21")
    assert nightly["snapshot_path"] != backfill["snapshot_path"]
    assert nightly["snapshot_path"] == str(settings.staging_dir / "seattle_temp_max" / "scheduled__2026-12-02.parquet")

    workspace = DvcHook().workspace
    results, errors = {}, []

    def version(name, staged):
        try:
            results[name] = workspace.track(staged, model="seattle_temp_max")
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=version, args=(name, r["snapshot_path"])) for name, r in (("nightly", nightly), ("backfill", backfill))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for name, staged in (("nightly", nightly), ("backfill", backfill)):
        own = hashlib.md5(Path(staged["snapshot_path"]).read_bytes()).hexdigest()
        assert results[name].md5 == own, f"the {name} run versioned another run's bytes"
        fetched = workspace.fetch(own, settings.home / "fetched" / f"{name}.parquet")
        assert hashlib.md5(fetched.read_bytes()).hexdigest() == own
    assert results["nightly"].md5 != results["backfill"].md5


def _train(version, run_id: str, overrides: dict | None = None) -> dict:
    ctx = task_context(run_id=run_id)
    FingerprintBranchOperator(task_id="fingerprint", spec_path=PENGUINS, data_md5=version.md5, train_task_id="train", skip_to_task_id="deploy",
                              force_retrain=True, overrides=overrides or {}).choose_branch(ctx)
    op = TrainModelOperator(task_id="train", spec_path=PENGUINS, data_md5=version.md5, data_remote=version.remote, fingerprint=ctx["ti"].xcom["fingerprint"],
                            overrides=overrides or {})
    return op.execute(task_context(run_id=run_id))


def _evaluate(version, challenger: str) -> dict:
    return EvaluateModelOperator(task_id="evaluate", spec_path=PENGUINS, data_md5=version.md5, challenger_version=challenger).execute(task_context())


def _promote(decision: dict, run_id: str, expected):
    op = PromoteModelOperator(
        task_id="promote", spec_path=PENGUINS, challenger_version=decision["challenger_version"], promote=decision["promote"],
        reason=decision["reason"], expected_champion=expected,
    )
    return op.execute(task_context(run_id=run_id))


def test_promotion_is_a_compare_and_set_on_the_champion(penguin_snapshot):
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry
    first = _train(version, "run_1")
    decision = _evaluate(version, first["version"])
    assert decision["champion_version"] is None
    _promote(decision, "run_1", decision["champion_version"])
    assert registry.by_alias(MODEL, CHAMPION).version == first["version"]

    # Two runs evaluate against champion 1; the backfill promotes first, then the nightly run arrives.
    # (Both with another configuration, which scores better here: a refit of the champion is never promoted.)
    better = {"n_estimators": 20}
    nightly, backfill = _train(version, "nightly", better), _train(version, "backfill", better)
    nightly_decision, backfill_decision = _evaluate(version, nightly["version"]), _evaluate(version, backfill["version"])
    assert nightly_decision["champion_version"] == backfill_decision["champion_version"] == first["version"]
    assert nightly_decision["promote"] and backfill_decision["promote"]
    _promote(backfill_decision, "backfill", backfill_decision["champion_version"])
    with pytest.raises(AirflowSkipException, match=f"evaluated against champion {first['version']}, but the champion is now {backfill['version']}"):
        _promote(nightly_decision, "nightly", nightly_decision["champion_version"])
    assert registry.by_alias(MODEL, CHAMPION).version == backfill["version"]
    assert registry.version(MODEL, nightly["version"]).tags["promotion_superseded"] == backfill["version"]
    assert "promoted_by" not in registry.version(MODEL, nightly["version"]).tags


def test_a_retried_training_reuses_a_completed_version_and_removes_half_written_ones(penguin_snapshot):
    """One setup for both cases (a snapshot costs most of the time): the try that died after completing
    its version, and tries killed after registering (no completion tag) or mid-fit (a RUNNING run)."""
    import mlflow

    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry
    done = _train(version, "earlier")
    again = _train(version, "earlier")  # the same Airflow run, a later try: the worker died after registering
    assert again["version"] == done["version"] and again["run_id"] == done["run_id"]
    assert again["holdout_metrics"] == pytest.approx(done["holdout_metrics"])
    assert len(registry.versions_tagged(MODEL, TRAINING_KEY, f"{MODEL}/earlier")) == 1

    key = f"{MODEL}/killed_run"
    registry.activate()
    experiment = registry.experiment_id(MODEL)
    # What the killed tries left: a version registered without its completion tag, and an open run.
    with mlflow.start_run(experiment_id=experiment) as finished_run:
        mlflow.set_tag(TRAINING_KEY, key)
    half = registry.client.create_model_version(MODEL, f"runs:/{finished_run.info.run_id}/model", run_id=finished_run.info.run_id, tags={TRAINING_KEY: key})
    open_run = registry.client.create_run(experiment, tags={TRAINING_KEY: key})

    retried = _train(version, "killed_run")
    keyed = registry.versions_tagged(MODEL, TRAINING_KEY, key)
    assert [ref.version for ref in keyed] == [retried["version"]], "exactly one version for the run"
    assert keyed[0].tags["training_complete"] == "true"
    assert str(half.version) not in {mv.version for mv in registry.client.search_model_versions(f"name = '{MODEL}'")}
    assert registry.client.get_run(open_run.info.run_id).info.status == "FAILED"
    assert registry.by_alias(MODEL, CHALLENGER).version == retried["version"] != done["version"]
