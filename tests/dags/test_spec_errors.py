"""A broken model YAML shows where Airflow users look: an import error naming file and field, and a
failing stand-in DAG with the model's dag_id and schedule that alerts its owner; the good models stay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from include.settings import MODELS_DIR
from tests.support.webhook import webhook_server

ROOT = Path(__file__).resolve().parents[2]
GOOD = (MODELS_DIR / "seattle_temp_max.yaml").read_text(encoding="utf-8")


def _broken(models: Path) -> dict[str, Path]:
    """A good model and two broken ones: a wrong type (owner and schedule still readable), and a bad schedule."""
    (models / "good_model.yaml").write_text(GOOD)
    raw = yaml.safe_load(GOOD)
    raw["schedule"] = "30 3 * * *"
    raw["owner"]["email"] = "oncall@example.com"
    raw["alerts"] = {"conn_id": "team_webhook"}
    raw["window_days"] = "a year"
    (models / "wrong_type.yaml").write_text(yaml.safe_dump(raw))
    (models / "bad_schedule.yaml").write_text(GOOD.replace('schedule: "@daily"', 'schedule: "0 25 * * *"'))
    return {p.stem: p for p in models.glob("*.yaml")}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """The dags folder parsed by Airflow's DagBag against a models folder with broken YAMLs in it."""
    from airflow.dag_processing.dagbag import DagBag

    models = tmp_path_factory.mktemp("models")
    files = _broken(models)
    before = os.environ.get("CT_MODELS_DIR")
    os.environ["CT_MODELS_DIR"] = str(models)
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    finally:
        os.environ.pop("CT_MODELS_DIR") if before is None else os.environ.__setitem__("CT_MODELS_DIR", before)
    return bag, files


def test_broken_yamls_are_import_errors_naming_file_and_field(parsed):
    bag, files = parsed
    assert list(bag.import_errors) == [str(ROOT / "dags" / "model_spec_errors.py")]
    (error,) = bag.import_errors.values()
    assert "InvalidModelSpecs: 2 model YAML(s)" in error
    assert f"{files['wrong_type']}: window_days: Input should be a valid integer, unable to parse string as an integer (found 'a year')" in error
    assert f"{files['bad_schedule']}: schedule: expected a cron expression like '0 2 * * *' or a preset like '@daily', found '0 25 * * *'" in error
    assert "good_model" not in error


def test_the_good_model_keeps_its_dags_and_each_broken_one_gets_a_stand_in(parsed):
    bag, _ = parsed
    assert sorted(bag.dag_ids) == ["bad_schedule", "good_model", "good_model__monitoring", "wrong_type"]
    assert "train" in bag.dags["good_model"].task_ids


def test_the_stand_in_keeps_the_models_schedule_owner_and_alert_connection(parsed):
    from ct_airflow.dag_factory import training_schedule

    bag, files = parsed
    dag = bag.dags["wrong_type"]
    assert dag.timetable == training_schedule("wrong_type", "30 3 * * *")  # a model that was running keeps running (and failing)
    assert {"invalid-spec", "team:forecasting", "model:wrong_type"} <= set(dag.tags)
    assert dag.owner_links == {"forecasting": "mailto:oncall@example.com"}
    (task,) = dag.tasks
    assert (task.task_id, task.owner, task.retries) == ("invalid_spec", "forecasting", 0)
    (alert,) = task.on_failure_callback
    assert (alert.model, alert.conn_id, alert.owner_email) == ("wrong_type", "team_webhook", "oncall@example.com")
    assert str(files["wrong_type"]) in dag.doc_md and "window_days" in dag.doc_md
    # Its own schedule is what is broken: the default one is kept, so the DAG still runs and fails.
    assert bag.dags["bad_schedule"].timetable == training_schedule("bad_schedule", "@daily")


def test_a_run_of_the_stand_in_fails_without_retry_and_alerts_the_owner(parsed, monkeypatch):
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    bag, files = parsed
    (task,) = bag.dags["wrong_type"].tasks
    with pytest.raises(AirflowFailException) as failed:
        task.execute({})
    assert f"{files['wrong_type']}: window_days:" in str(failed.value) and "make check" in str(failed.value)

    with webhook_server() as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_TEAM_WEBHOOK", json.dumps({"conn_type": "http", "host": f"{url}/hook"}))
        ti = SimpleNamespace(task_id=task.task_id, try_number=1, log_url="http://airflow/log")
        for callback in task.on_failure_callback:
            callback.notify({"ti": ti, "run_id": "scheduled__2026-12-02", "exception": failed.value})
    (message,) = received
    assert "wrong_type failed" in message["text"] and "window_days" in message["text"]


def test_a_file_name_that_cannot_be_a_dag_id_is_reported_without_breaking_the_others(tmp_path):
    from ct_airflow.dag_factory import build_all
    from ct_airflow.invalid_spec import InvalidModelSpecs, raise_for_invalid_specs

    (tmp_path / "good_model.yaml").write_text(GOOD)
    (tmp_path / "my model.yaml").write_text(GOOD)
    assert list(build_all(models_dir=tmp_path)) == ["good_model"]
    with pytest.raises(InvalidModelSpecs, match=r"my model.yaml: name: expected lower_snake_case"):
        raise_for_invalid_specs(tmp_path)


def test_the_spec_errors_file_is_found_by_the_dag_processors_safe_mode():
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    assert might_contain_dag_via_default_heuristic(str(ROOT / "dags" / "model_spec_errors.py"))


def test_parsing_the_spec_errors_file_imports_no_heavy_module():
    from tests.dags.test_dag_integrity import heavy_modules_after_parsing

    assert heavy_modules_after_parsing(ROOT / "dags" / "model_spec_errors.py") == []
