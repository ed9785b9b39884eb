"""The model DAGs as an operator sees them: trigger form, stages, docs, tags, alerts, links."""

from __future__ import annotations

import json

import pytest

from include.settings import MODELS_DIR
from include.spec import discover_specs
from tests.support.webhook import webhook_server

MODEL_IDS = [p.stem for p in discover_specs(MODELS_DIR)]
STAGES = {"data": {"ingest", "version_snapshot", "validate"}, "model": {"fingerprint", "train", "evaluate"}, "release": {"promote", "deploy"}}


@pytest.fixture(scope="module")
def dags():
    from ct_airflow.dag_factory import build_all

    return build_all()


@pytest.mark.parametrize("dag_id", MODEL_IDS)
def test_trigger_form_has_titled_params_with_safe_defaults(dags, dag_id):
    params = dags[dag_id].params
    assert set(params.keys()) >= {"day", "reason", "force_retrain", "dry_run", "skip_deploy", "allow_older_champion", "overrides"}
    for name in params:
        param = params.get_param(name)
        assert param.schema.get("title") and param.description, name
    # Scheduled runs and backfills use the defaults: they change nothing.
    assert params.validate() == {"day": None, "reason": None, "force_retrain": False, "dry_run": False, "skip_deploy": False, "allow_older_champion": False, "overrides": {}}


def test_overrides_param_allows_only_what_the_yaml_lists(dags):
    from airflow.sdk.exceptions import ParamValidationError

    param = dags["penguin_species"].params.get_param("overrides")
    assert param.resolve({"n_estimators": 50}) == {"n_estimators": 50}
    with pytest.raises(ParamValidationError, match="criterion"):
        param.resolve({"criterion": "gini"})
    with pytest.raises(ParamValidationError):
        param.resolve({"n_estimators": "many"})


@pytest.mark.parametrize("dag_id", MODEL_IDS)
def test_stages_are_task_groups_without_renaming_tasks(dags, dag_id):
    dag = dags[dag_id]
    groups = dag.task_group.children
    for stage, task_ids in STAGES.items():
        assert set(groups[stage].children) == task_ids, stage
    assert {t.task_id for t in dag.tasks} == set().union(*STAGES.values())


@pytest.mark.parametrize("dag_id", MODEL_IDS)
def test_docs_tags_owner_alerts_and_deadline_come_from_the_yaml(dags, dag_id):
    from include.spec import load_spec

    spec = load_spec(MODELS_DIR / f"{dag_id}.yaml")
    dag = dags[dag_id]
    assert f"model:{dag_id}" in dag.tags and f"team:{spec.owner.team}" in dag.tags
    assert spec.description in dag.doc_md and "dry_run" in dag.doc_md
    assert spec.estimator.class_ in dag.get_task("train").doc_md
    assert "/models/" + dag_id in dag.get_task("deploy").doc_md
    assert all(task.owner == spec.owner.team for task in dag.tasks)
    assert all(type(cb).__name__ == "PipelineAlertNotifier" for task in dag.tasks for cb in task.on_failure_callback)
    (deadline,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert deadline.interval.total_seconds() == spec.alerts.deadline_minutes * 60
    assert deadline.callback.path == "ct_airflow.alerts.deadline_missed"


def test_tasks_carry_the_extra_links_and_the_plugin_registers_them(dags):
    dag = dags["penguin_species"]
    names = {task_id: {link.name for link in dag.get_task(task_id).operator_extra_links} for task_id in ("validate", "train", "evaluate", "promote", "deploy")}
    assert names == {
        "validate": {"Validation report"},
        "train": {"MLflow run", "Model version"},
        "evaluate": {"MLflow run", "Model version", "Evaluation report"},
        "promote": {"Model version"},
        "deploy": {"Served endpoint", "Drift report"},
    }
    from ct_platform_plugin import CtPlatformPlugin

    assert {link.name for link in CtPlatformPlugin.operator_extra_links} == set().union(*names.values())
    assert CtPlatformPlugin.fastapi_apps and CtPlatformPlugin.fastapi_apps[0]["url_prefix"] == "/ct-reports"


def test_failure_alert_reaches_the_teams_webhook_connection(monkeypatch):
    from types import SimpleNamespace

    from ct_airflow.alerts import PipelineAlertNotifier

    with webhook_server() as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_CT_ALERTS_TEST", json.dumps({"conn_type": "http", "host": f"{url}/hooks/ecology"}))
        notifier = PipelineAlertNotifier(model="penguin_species", conn_id="ct_alerts_test", owner_email="ecology@example.com")
        ti = SimpleNamespace(task_id="validate", try_number=3, log_url="http://airflow/log")
        notifier.notify({"ti": ti, "run_id": "scheduled__2026-12-02", "exception": ValueError("island 'Atlantis' not allowed")})
    (message,) = received
    assert "penguin_species failed" in message["text"] and "task validate failed in run scheduled__2026-12-02" in message["text"]
    assert "Atlantis" in message["text"] and "http://airflow/log" in message["text"]


def test_without_a_connection_the_alert_is_logged(caplog):
    from ct_airflow.alerts import send_alert

    assert send_alert("ct_alerts_absent", "[ct] x failed", "details") == "log"
    assert "ALERT [ct] x failed: details" in caplog.text
