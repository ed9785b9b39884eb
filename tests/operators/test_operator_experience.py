"""What the trigger form changes, against a real SQLite MLflow registry: reason in the audit tags,
dry run, skip deploy, estimator overrides, the backfill guard, and the plots + model card."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.deploy import DeployModelOperator
from ct_airflow.operators.fingerprint import FingerprintBranchOperator
from ct_airflow.operators.mlflow import EvaluateModelOperator, PromoteModelOperator, TrainModelOperator

from include.model_card import card_dir
from include.registry import CHALLENGER, CHAMPION
from tests.operators.conftest import PENGUINS, task_context

MODEL = "penguin_species"
DEFAULTS = {"reason": "", "force_retrain": False, "dry_run": False, "skip_deploy": False, "allow_older_champion": False, "overrides": {}}


def context(day: str, run_id: str, **params) -> dict:
    """A run whose data ends at ``day`` (it owns the day before)."""
    end = date.fromisoformat(day)
    ctx = task_context(run_id=run_id, interval=(end - timedelta(days=1), end))
    ctx["params"] = {**DEFAULTS, **params}
    return ctx


def run_model_tasks(version, ctx) -> tuple[dict, dict, dict | None]:
    """fingerprint -> train -> evaluate -> promote, as the DAG wires them, with the Params of ``ctx``."""
    params = ctx["params"]
    branch = FingerprintBranchOperator(
        task_id="fingerprint", spec_path=PENGUINS, data_md5=version.md5, train_task_id="train", skip_to_task_id="deploy",
        force_retrain=params["force_retrain"],
    ).choose_branch(ctx)
    assert branch == "train"
    trained = TrainModelOperator(task_id="train", spec_path=PENGUINS, data_md5=version.md5, data_remote=version.remote, fingerprint=ctx["ti"].xcom["fingerprint"]).execute(ctx)
    decision = EvaluateModelOperator(task_id="evaluate", spec_path=PENGUINS, data_md5=version.md5, challenger_version=trained["version"]).execute(ctx)
    op = PromoteModelOperator(
        task_id="promote", spec_path=PENGUINS, challenger_version=decision["challenger_version"], promote=decision["promote"], reason=decision["reason"],
        dry_run=params["dry_run"], allow_older_champion=params["allow_older_champion"],
    )
    try:
        promoted = op.execute(ctx)
    except AirflowSkipException as skip:
        promoted = {"skipped": str(skip)}
    return trained, decision, promoted


def test_reason_dry_run_overrides_and_the_backfill_guard(penguin_snapshot, settings):
    _, version = penguin_snapshot
    registry = MlflowRegistryHook().registry

    # 1. A manual run with a reason: recorded on the run, the version and the promotion.
    trained, decision, promoted = run_model_tasks(version, context("2026-12-02", "manual_1", reason="ticket ECO-42: new season"))
    assert promoted["champion"] == "1"
    run = registry.client.get_run(trained["run_id"])
    assert run.data.tags["trigger_reason"] == "ticket ECO-42: new season" and run.data.tags["data_until"] == "2026-12-02"
    champion = registry.by_alias(MODEL, CHAMPION)
    assert champion.tags["trigger_reason"] == "ticket ECO-42: new season"
    assert champion.tags["promotion_trigger_reason"] == "ticket ECO-42: new season"

    # Plots and the model card of version 1: on disk for the Airflow plugin, in MLflow for its UI.
    cards = card_dir(settings.reports_dir, MODEL, "1")
    assert {p.name for p in cards.glob("*.png")} >= {"challenger_vs_champion.png", "confusion_matrix.png", "roc.png", "precision_recall.png", "feature_importance.png"}
    html = (cards / "model_card.html").read_text()
    assert "<h2>Intended use</h2>" in html and "Promoted to champion" in html and version.md5 in html and "<table>" in html
    artifacts = {a.path for a in registry.client.list_artifacts(trained["run_id"], "model_card")}
    assert {"model_card/model_card.md", "model_card/model_card.html", "model_card/roc.png"} <= artifacts
    assert "ticket ECO-42" in registry.client.get_model_version(MODEL, "1").description

    # 2. A dry run with an override: trains and evaluates, promotes nothing, does not become challenger.
    ctx = context("2026-12-02", "manual_2", dry_run=True, overrides={"n_estimators": 20})
    trained, decision, promoted = run_model_tasks(version, ctx)
    assert trained["version"] == "2" and "Dry run" in promoted["skipped"]
    assert registry.client.get_run(trained["run_id"]).data.params["estimator.n_estimators"] == "20"
    assert registry.version(MODEL, "2").tags["dry_run"] == "true"
    assert registry.by_alias(MODEL, CHAMPION).version == "1" and registry.by_alias(MODEL, CHALLENGER).version == "1"
    with pytest.raises(AirflowSkipException, match="dry_run"):
        DeployModelOperator(task_id="deploy", spec_path=PENGUINS, dry_run=True).execute(ctx)
    with pytest.raises(AirflowSkipException, match="skip_deploy"):
        DeployModelOperator(task_id="deploy", spec_path=PENGUINS, skip_deploy=True).execute(ctx)
    # The dry run's version never stands in for a real training of the same inputs.
    branch = FingerprintBranchOperator(task_id="fingerprint", spec_path=PENGUINS, data_md5=version.md5, train_task_id="train", skip_to_task_id="deploy",
                                       force_retrain=False).choose_branch(context("2026-12-02", "manual_3", overrides={"n_estimators": 20}))
    assert branch == "train"

    # An override the YAML does not allow is refused with the allowed list, and not retried.
    with pytest.raises(AirflowFailException, match=r"\['max_depth'\] are not allowed.*n_estimators"):
        FingerprintBranchOperator(task_id="fingerprint", spec_path=PENGUINS, data_md5=version.md5, train_task_id="train", skip_to_task_id="deploy",
                                  force_retrain=False).choose_branch(context("2026-12-02", "manual_4", overrides={"max_depth": 3}))

    # 3. A backfilled older day (forced, so it trains) never replaces the newer champion ... (with another
    # configuration, which scores better on this snapshot: a refit of the champion would not be promoted at all)
    better = {"n_estimators": 20}
    trained, decision, promoted = run_model_tasks(version, context("2026-11-20", "backfill_1", force_retrain=True, overrides=better))
    assert decision["promote"] is True  # it would have been good enough
    assert "older than champion version 1" in promoted["skipped"]
    assert registry.by_alias(MODEL, CHAMPION).version == "1"
    assert "older than champion" in registry.version(MODEL, trained["version"]).tags["promotion_blocked"]
    assert "Not promoted" in (card_dir(settings.reports_dir, MODEL, trained["version"]) / "model_card.md").read_text()

    # ... unless the run says so explicitly.
    trained, decision, promoted = run_model_tasks(version, context("2026-11-20", "backfill_2", force_retrain=True, allow_older_champion=True, overrides=better))
    assert promoted["champion"] == trained["version"]
    assert registry.version(MODEL, trained["version"]).tags["promotion_allowed_older"] == "true"
