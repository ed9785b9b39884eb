"""The monitoring DAGs: one per model, house rules, and the Asset that links them to training."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from include.settings import MODELS_DIR
from include.spec import discover_specs

ROOT = Path(__file__).resolve().parents[2]
MODEL_IDS = [p.stem for p in discover_specs(MODELS_DIR)]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.mark.parametrize("model", MODEL_IDS)
def test_monitoring_dag_policy_and_shape(dagbag, model):
    from ct_airflow.assets import retrain_asset

    dag = dagbag.dags[f"{model}__monitoring"]
    assert "monitoring" in dag.tags and dag.doc_md and model in dag.doc_md
    assert dag.timetable.expression == "0 * * * *"  # @hourly, from the YAML
    assert dag.get_task("monitor").downstream_task_ids == {"request_retraining"}
    for task in dag.tasks:
        assert task.owner not in ("", "airflow") and task.retries >= 2 and task.doc_md
    outlet = dag.get_task("request_retraining").outlets
    assert [a.name for a in outlet] == [retrain_asset(model).name]
    # The training DAG listens to the same asset.
    training = dagbag.dags[model]
    assert list(training.timetable.asset_condition.objects) == [retrain_asset(model)]


@pytest.mark.parametrize("model", MODEL_IDS)
def test_monitoring_is_created_unpaused_and_follows_the_model_instead(dagbag, model):
    """Unpausing the model in the UI must be enough; ``monitor`` skips while the model's DAG is paused
    (tests/e2e/test_monitoring_follows_model.py runs it against Airflow's execution API)."""
    assert dagbag.dags[f"{model}__monitoring"].is_paused_upon_creation is False
    assert dagbag.dags[model].is_paused_upon_creation is not False  # a new model waits for its owner
    assert "while that DAG is paused" in dagbag.dags[f"{model}__monitoring"].doc_md


def test_monitoring_schedule_comes_from_the_yaml(tmp_path):
    from ct_airflow.monitoring_dag import build_all_monitoring

    source = (MODELS_DIR / "seattle_temp_max.yaml").read_text().replace('schedule: "@hourly"', 'schedule: "*/30 * * * *"')
    (tmp_path / "seattle_temp_max.yaml").write_text(source)
    (tmp_path / "quiet.yaml").write_text(source.replace("monitoring:", "monitoring:\n  enabled: false", 1))
    dags = build_all_monitoring(tmp_path)
    assert list(dags) == ["seattle_temp_max__monitoring"]  # monitoring.enabled: false builds none
    assert dags["seattle_temp_max__monitoring"].timetable.expression == "*/30 * * * *"


def test_the_reason_travels_from_event_extra():
    from types import SimpleNamespace

    from ct_airflow.assets import retrain_asset, retrain_reason

    events = {retrain_asset("m"): [SimpleNamespace(extra={"reason": "drift in 1 feature(s): wind", "model_version": "3", "source": "m__monitoring/run1"}), SimpleNamespace(extra={})]}
    assert retrain_reason(events) == "m__monitoring/run1: version 3: drift in 1 feature(s): wind"
    assert retrain_reason(None) == "" and retrain_reason({}) == ""


def test_an_asset_triggered_training_run_ingests_the_day_before_it_runs(dagbag):
    """Asset-triggered runs have no data interval: ingest falls back to the day before ``run_after``."""
    from datetime import datetime
    from types import SimpleNamespace

    from airflow.sdk.execution_time import macros

    dag = dagbag.dags[MODEL_IDS[0]]
    ingest = dag.get_task("ingest")
    env = dag.get_template_env()
    run_after = datetime(2026, 6, 3, 4, 5, tzinfo=UTC)
    asset_run = {"data_interval_start": None, "data_interval_end": None, "dag_run": SimpleNamespace(run_after=run_after), "macros": macros}
    scheduled = {**asset_run, "data_interval_start": datetime(2026, 6, 1, tzinfo=UTC), "data_interval_end": datetime(2026, 6, 2, tzinfo=UTC)}

    def render(field, context):
        return env.from_string(getattr(ingest, field)).render(**context)

    # The DAG renders native objects: the operator gets datetimes, which as_day() turns into UTC days.
    assert (render("interval_start", asset_run), render("interval_end", asset_run)) == (datetime(2026, 6, 2, 4, 5, tzinfo=UTC), run_after)
    assert render("interval_start", scheduled) == datetime(2026, 6, 1, tzinfo=UTC)
