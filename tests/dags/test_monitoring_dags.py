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


def test_every_kind_of_training_run_gets_its_days_from_the_one_rule(dagbag):
    """The ingest task templates no data interval (Airflow 3 leaves it out of the context of a run without a logical
    date: UndefinedError); the days come from ``owned_window``, given Airflow's own task-context DagRun."""
    from datetime import date, datetime

    from airflow.exceptions import ParamValidationError
    from airflow.sdk.api.datamodels._generated import DagRun
    from ct_airflow.common import owned_window

    dag = dagbag.dags[MODEL_IDS[0]]
    assert not {"interval_start", "interval_end"} & set(dag.get_task("ingest").template_fields)
    run_after = datetime(2026, 6, 3, 4, 5, tzinfo=UTC)

    def days(run_type, logical=None, interval=(None, None), **params):
        run = DagRun(
            dag_id=dag.dag_id, run_id="r", logical_date=logical, data_interval_start=interval[0], data_interval_end=interval[1], run_after=run_after,
            start_date=run_after, end_date=None, run_type=run_type, state="running", consumed_asset_events=[], partition_key=None,
        )
        window = owned_window({"dag_run": run, "params": {**dag.params.dump(), **params}})
        return window.start, window.end

    june = [datetime(2026, 6, d, tzinfo=UTC) for d in range(1, 4)]
    assert days("asset_triggered") == days("manual") == (date(2026, 6, 2), date(2026, 6, 3))
    assert days("scheduled", june[0], (june[0], june[1])) == (date(2026, 6, 1), date(2026, 6, 2))
    # `airflow dags trigger --logical-date 2026-06-02` records an interval inferred from the trigger time: the logical date wins.
    assert days("manual", june[1], (june[1], june[2])) == (date(2026, 6, 1), date(2026, 6, 2))
    assert days("manual", day="2026-05-20") == (date(2026, 5, 20), date(2026, 5, 21))
    # The trigger form offers the day, and its schema refuses a malformed one before any run exists.
    assert dag.params.dump()["day"] is None
    with pytest.raises(ParamValidationError, match="is not a 'date'"):
        dag.params.get_param("day").resolve("2026-02-30")


@pytest.mark.parametrize("model", MODEL_IDS)
def test_a_monitoring_run_without_a_logical_date_renders_its_window_end(dagbag, model):
    """A manual run of <model>__monitoring without a date has no data_interval_end in its context (StrictUndefined):
    the window ends when the run was triggered; a scheduled run's window ends with its interval."""
    from datetime import datetime

    from airflow.sdk.api.datamodels._generated import DagRun

    dag = dagbag.dags[f"{model}__monitoring"]
    template = dag.get_task("monitor").window_end
    run_after = datetime(2026, 6, 3, 4, 5, tzinfo=UTC)

    def rendered(interval_end):
        run = DagRun(
            dag_id=dag.dag_id, run_id="r", logical_date=None, data_interval_start=None, data_interval_end=interval_end, run_after=run_after,
            start_date=run_after, end_date=None, run_type="manual", state="running", consumed_asset_events=[], partition_key=None,
        )
        return dag.get_template_env().from_string(template).render(dag_run=run)

    assert rendered(None) == run_after
    assert rendered(datetime(2026, 6, 3, 4, tzinfo=UTC)) == datetime(2026, 6, 3, 4, tzinfo=UTC)
