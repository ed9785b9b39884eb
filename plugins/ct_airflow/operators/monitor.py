"""Watching a served model: the monitoring check, and the Asset event that asks for retraining."""

from __future__ import annotations

from datetime import UTC

from airflow.sdk import BaseOperator

from ct_airflow.common import model_spec, run_key
from ct_airflow.hooks.mlflow import MlflowRegistryHook


def _timestamp(value) -> float:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    raise ValueError(f"window_end: expected a datetime or an ISO timestamp, found {value!r}")


def skip_while_model_paused(context, model: str) -> None:
    """Monitoring follows its model: skip this run while the model's training DAG is paused.

    The monitoring DAG is created unpaused, so a model someone unpauses is monitored without a second
    click. The pause state comes from the Task SDK's ``ti.get_dag`` (Airflow's execution API):
    tasks may not read the metadata DB in Airflow 3, and this needs no credentials.
    """
    from airflow.sdk.exceptions import AirflowRuntimeError, AirflowSkipException

    try:
        is_paused = context["ti"].get_dag(model).is_paused
    except AirflowRuntimeError as exc:
        if (getattr(exc.error, "detail", None) or {}).get("status_code") != 404:
            raise  # the API did not answer: a fault, retried
        raise AirflowSkipException(f"The training DAG {model!r} is not loaded (yet): nothing to monitor.") from exc
    if is_paused:
        raise AirflowSkipException(f"The training DAG {model!r} is paused, and its monitoring follows it: unpause {model!r} to monitor it again.")


class MonitorModelOperator(BaseOperator):
    """Live inputs of the last ``monitoring.window_hours`` vs the champion's training snapshot; live quality.

    Logs the figures to MLflow (a run tagged with the judged version), writes an HTML report
    and the JSON the model server exports to Prometheus. Returns the verdict as small XComs.
    """

    template_fields = ("spec_path", "window_end")
    ui_color = "#fff4e0"

    def __init__(self, *, spec_path: str, window_end="{{ dag_run.data_interval_end or dag_run.run_after }}", mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.spec_path = spec_path
        self.window_end = window_end
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context):
        from ct_airflow.operators.mlflow import _snapshot_by_md5
        from include.monitoring.run import monitor_model
        from include.settings import Settings

        spec = model_spec(self.spec_path)
        skip_while_model_paused(context, spec.name)
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        figures = monitor_model(spec, Settings.from_env(), registry, _snapshot_by_md5, _timestamp(self.window_end), run_key(context))
        self.log.info("%s version %s: %d live rows, %d outcomes, drifted %s, quality %s; %s",
                      spec.name, figures["version"], figures["live_rows"], figures["outcome_rows"], figures["drifted"], figures["quality"], figures["reason"])
        self.log.info("Report: %s; MLflow run %s", figures["report"], figures["mlflow_run_id"])
        return {k: figures[k] for k in ("retrain", "reason", "version", "drifted", "quality", "live_rows", "outcome_rows", "report", "mlflow_run_id")}


class RequestRetrainingOperator(BaseOperator):
    """Emits the model's retrain Asset event (reason in ``extra``) when asked to; skips otherwise.

    A skipped task emits no Asset event: no drift, no trigger.
    """

    template_fields = ("retrain", "reason", "model_version", "monitoring_run")
    ui_color = "#ffe0e0"

    def __init__(self, *, asset, retrain, reason, model_version, monitoring_run="", **kwargs):
        super().__init__(outlets=[asset], **kwargs)
        self.asset = asset
        self.retrain = retrain
        self.reason = reason
        self.model_version = model_version
        self.monitoring_run = monitoring_run

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        if self.retrain is not True:
            raise AirflowSkipException(f"No retraining requested: {self.reason}")
        extra = {"reason": self.reason, "model_version": str(self.model_version), "mlflow_run_id": self.monitoring_run,
                 "source": f"{context['dag'].dag_id}/{context['run_id']}"}
        context["outlet_events"][self.asset].extra = extra
        self.log.warning("Requesting retraining of version %s via asset %s: %s", self.model_version, self.asset.name, self.reason)
        return extra
