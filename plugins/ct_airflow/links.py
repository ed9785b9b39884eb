"""Extra links on the model DAG's tasks: one click from a task to what it produced.

Airflow 3 computes a task's links when the task finishes (on the worker) and keeps
them as XComs, so ``get_link`` reads only what the task itself pushed. Reports on
local disk are served by the ``ct_reports`` app of our AirflowPlugin (same origin
as the UI, behind its login), everything in MLflow by the MLflow UI.
"""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

REPORTS_PREFIX = "/ct-reports"


def _settings():
    from include.settings import Settings

    return Settings.from_env()


def _returned(ti_key) -> dict:
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(ti_key=ti_key, key="return_value")
    return value if isinstance(value, dict) else {}


def report_url(path: str) -> str:
    """The plugin URL of a file under the reports folder ('' if it is elsewhere)."""
    from pathlib import Path

    root = _settings().reports_dir
    try:
        relative = Path(path).resolve().relative_to(root)
    except ValueError:
        return ""
    return f"{REPORTS_PREFIX}/files/{quote(str(relative))}"


class MlflowRunLink(BaseOperatorLink):
    name = "MLflow run"

    def get_link(self, operator, *, ti_key) -> str:
        run_id = _returned(ti_key).get("run_id")
        return f"{_settings().mlflow_ui_url}/#/runs/{run_id}" if run_id else ""


class ModelVersionLink(BaseOperatorLink):
    name = "Model version"

    def get_link(self, operator, *, ti_key) -> str:
        result = _returned(ti_key)
        version = result.get("version") or result.get("challenger_version") or result.get("champion")
        return f"{_settings().mlflow_ui_url}/#/models/{quote(ti_key.dag_id)}/versions/{version}" if version else ""


class ValidationReportLink(BaseOperatorLink):
    name = "Validation report"

    def get_link(self, operator, *, ti_key) -> str:
        return report_url(_returned(ti_key).get("html_report") or "")


class EvaluationReportLink(BaseOperatorLink):
    """The model card (metrics, plots, thresholds, decision) of the evaluated version."""

    name = "Evaluation report"

    def get_link(self, operator, *, ti_key) -> str:
        version = _returned(ti_key).get("challenger_version")
        return f"{REPORTS_PREFIX}/model-card/{quote(ti_key.dag_id)}/{version}" if version else ""


class DriftReportLink(BaseOperatorLink):
    """The latest drift report of the served model, if monitoring wrote one (the page says where it looks)."""

    name = "Drift report"

    def get_link(self, operator, *, ti_key) -> str:
        return f"{REPORTS_PREFIX}/drift/{quote(ti_key.dag_id)}"


class ServedEndpointLink(BaseOperatorLink):
    name = "Served endpoint"

    def get_link(self, operator, *, ti_key) -> str:
        return f"{_settings().serving_url}/models/{quote(ti_key.dag_id)}"


ALL_LINKS = [MlflowRunLink, ModelVersionLink, ValidationReportLink, EvaluationReportLink, DriftReportLink, ServedEndpointLink]
