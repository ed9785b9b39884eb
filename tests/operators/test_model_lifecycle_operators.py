"""Fingerprint, train, evaluate and promote operators against a real SQLite MLflow registry."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.fingerprint import FingerprintBranchOperator
from ct_airflow.operators.mlflow import EvaluateModelOperator, PromoteModelOperator, TrainModelOperator

from include.registry import CHALLENGER, CHAMPION, PREVIOUS
from tests.operators.conftest import PENGUINS, task_context

MODEL = "penguin_species"
# Each training is another Airflow run: one run trains once (a retry of it reuses its version).
_RUNS = itertools.count()


def fingerprint(md5: str, force: bool = False):
    ctx = task_context()
    op = FingerprintBranchOperator(task_id="fingerprint", spec_path=PENGUINS, data_md5=md5, train_task_id="train", skip_to_task_id="deploy", force_retrain=force)
    return op.choose_branch(ctx), ctx["ti"].xcom


def train(version, fp) -> dict:
    return TrainModelOperator(task_id="train", spec_path=PENGUINS, data_md5=version.md5, data_remote=version.remote, fingerprint=fp).execute(task_context(run_id=f"train_{next(_RUNS)}"))


def evaluate(version, challenger: str) -> dict:
    return EvaluateModelOperator(task_id="evaluate", spec_path=PENGUINS, data_md5=version.md5, challenger_version=challenger).execute(task_context())


def promote(decision: dict, run_id: str = "test_run"):
    op = PromoteModelOperator(task_id="promote", spec_path=PENGUINS, challenger_version=decision["challenger_version"], promote=decision["promote"], reason=decision["reason"])
    return op.execute(task_context(run_id=run_id))


def test_train_evaluate_promote_then_skip_then_forced_retrain(penguin_snapshot):
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry

    branch, xcom = fingerprint(version.md5)
    assert branch == "train"
    trained = train(version, xcom["fingerprint"])
    assert trained["version"] == "1" and registry.by_alias(MODEL, CHALLENGER).version == "1"
    run = registry.client.get_run(trained["run_id"])
    assert run.data.tags["data_md5"] == version.md5 and run.data.tags["fingerprint"] == xcom["fingerprint"]["fingerprint"]
    assert "lib.scikit-learn" in run.data.tags and run.data.params["estimator"].endswith("RandomForestClassifier")

    decision = evaluate(version, "1")
    assert decision["promote"] is True and "first model" in decision["reason"]
    assert promote(decision)["champion"] == "1"
    champion = registry.by_alias(MODEL, CHAMPION)
    assert champion.tags["promotion_airflow_run_id"] == "test_run" and champion.tags["decision"] == "promote"

    # Same data, config, code and libraries: skip, and say why.
    branch, xcom = fingerprint(version.md5)
    assert branch == "deploy" and "identical to version 1" in xcom["skip_reason"]

    # force_retrain trains again; the refit ties the champion and, even with margin 0, does not replace it.
    branch, xcom = fingerprint(version.md5, force=True)
    assert branch == "train"
    second = train(version, xcom["fingerprint"])
    decision = evaluate(version, second["version"])
    assert decision["promote"] is False and "does not beat the champion" in decision["reason"] and "gain +0.0000" in decision["reason"]
    with pytest.raises(AirflowSkipException, match="Not promoting"):
        promote(decision, run_id="second_run")
    assert registry.by_alias(MODEL, CHAMPION).version == "1" and registry.by_alias(MODEL, PREVIOUS) is None


def test_a_registered_version_whose_artifacts_are_gone_does_not_count_for_the_skip(penguin_snapshot, settings):
    _, version = penguin_snapshot
    _, xcom = fingerprint(version.md5)
    train(version, xcom["fingerprint"])
    shutil.rmtree(settings.home / "mlflow" / "artifacts")

    branch, _ = fingerprint(version.md5)
    assert branch == "train"


def test_a_rejected_challenger_is_skipped_and_the_champion_stays(penguin_snapshot):
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry
    _, xcom = fingerprint(version.md5)
    promote(evaluate(version, train(version, xcom["fingerprint"])["version"]))

    with pytest.raises(AirflowSkipException, match="worse on purpose"):
        promote({"challenger_version": "1", "promote": False, "reason": "worse on purpose"})
    assert registry.by_alias(MODEL, CHAMPION).version == "1"


def test_a_champion_that_cannot_score_the_holdout_does_not_block_a_good_challenger(penguin_snapshot, settings):
    """E.g. the champion's artifacts were lost: the challenger is judged on the thresholds, and the reason says so."""
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry
    _, xcom = fingerprint(version.md5)
    promote(evaluate(version, train(version, xcom["fingerprint"])["version"]))
    shutil.rmtree(registry.client.get_model_version_download_uri(MODEL, "1").removeprefix("file://"))

    _, xcom = fingerprint(version.md5, force=True)
    decision = evaluate(version, train(version, xcom["fingerprint"])["version"])

    assert decision["promote"] is True
    assert "champion version 1 could not be scored" in decision["reason"] and "first model" not in decision["reason"]


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_a_version_whose_model_file_is_damaged_does_not_count_for_the_skip(penguin_snapshot, damage):
    """The skip trusts a version by its files (MLmodel and the file it names), without loading it."""
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry
    _, xcom = fingerprint(version.md5)
    trained = train(version, xcom["fingerprint"])
    model_dir = Path(registry.client.get_model_version_download_uri(MODEL, trained["version"]).removeprefix("file://"))
    (model_file,) = model_dir.glob("model.*")
    model_file.unlink() if damage == "deleted" else model_file.write_bytes(b"")

    branch, _ = fingerprint(version.md5)
    assert branch == "train"
