"""The monitoring operators against a real SQLite MLflow registry and a real DVC snapshot.

A small Seattle model is trained on a synthetic snapshot versioned with DVC and made
champion; predictions are written to the real prediction log; the operators do the rest.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.settings import MODELS_DIR
from tests.operators.conftest import task_context

SEATTLE = str(MODELS_DIR / "seattle_temp_max.yaml")


@pytest.fixture
def champion(settings):
    """A champion whose data_md5 names a real DVC snapshot; returns (spec, version, training frame, registry)."""
    from ct_airflow.hooks.dvc import DvcHook
    from ct_airflow.hooks.mlflow import MlflowRegistryHook

    from include.fingerprint import compute_fingerprint
    from include.ingest import parquet_bytes, write_atomically
    from include.registry import CHAMPION
    from include.spec import load_spec
    from include.training import train_and_register
    from tests.support.served_model import synthetic_weather

    spec = load_spec(SEATTLE)
    frame = synthetic_weather()
    workspace = DvcHook().workspace
    write_atomically(workspace.snapshot_path(spec.name), parquet_bytes(frame))
    snapshot = workspace.track(workspace.snapshot_path(spec.name))
    registry = MlflowRegistryHook().registry
    result = train_and_register(spec, frame, {"md5": snapshot.md5, "remote": snapshot.remote}, compute_fingerprint(snapshot.md5, spec.training_config()), {"run_id": "op-test"}, registry)
    registry.set_alias(spec.name, CHAMPION, result.version)
    return spec, result.version, frame, registry


def log_traffic(settings, spec, version, frame):
    from include.monitoring.prediction_log import PredictionLog

    log = PredictionLog(settings.predictions_dir)
    for i, row in enumerate(frame[spec.features.all].to_dict("records")):
        log.record(spec.name, version, f"req{i}", [row], [float(row["temp_min"]) + 7])
    log.close()


class OutletEvents(dict):
    """What Airflow hands the task as ``outlet_events``: an accessor per asset with a settable ``extra``."""

    def __missing__(self, asset):
        self[asset] = SimpleNamespace(extra={})
        return self[asset]


def test_shifted_traffic_is_judged_logged_and_turned_into_an_asset_event(settings, champion):
    from airflow.sdk.exceptions import AirflowSkipException
    from ct_airflow.assets import retrain_asset
    from ct_airflow.operators.monitor import MonitorModelOperator, RequestRetrainingOperator

    from include.monitoring.scenarios import from_training, shifted

    spec, version, frame, registry = champion
    window_end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    monitor = MonitorModelOperator(task_id="monitor", spec_path=SEATTLE, window_end=window_end)

    log_traffic(settings, spec, version, from_training(spec, frame, 100, seed=5))
    calm = monitor.execute(task_context(f"{spec.name}__monitoring", "calm"))
    assert calm["retrain"] is False and calm["live_rows"] == 100 and calm["drifted"] == []
    request = RequestRetrainingOperator(task_id="request_retraining", asset=retrain_asset(spec.name), retrain=calm["retrain"], reason=calm["reason"], model_version=version)
    with pytest.raises(AirflowSkipException, match="no threshold crossed"):
        request.execute({**task_context(f"{spec.name}__monitoring", "calm"), "outlet_events": OutletEvents()})

    log_traffic(settings, spec, version, shifted(spec, frame, 200, seed=6))
    judged = monitor.execute(task_context(f"{spec.name}__monitoring", "shifted"))
    assert judged["retrain"] is True and set(judged["drifted"]) == set(spec.features.all), judged
    run = registry.client.get_run(judged["mlflow_run_id"])
    assert run.data.tags["model_version"] == version and run.data.tags["retrain"] == "true"
    assert run.data.metrics["drift_statistic.temp_min"] > 0.2 and run.data.metrics["live_rows"] == 300
    assert registry.version(spec.name, version).tags["monitoring.last_run"] == judged["mlflow_run_id"]
    assert Path(judged["report"]).is_file() and "RETRAIN" in Path(judged["report"]).read_text()
    assert (settings.monitoring_dir / "latest" / f"{spec.name}.json").is_file()

    events = OutletEvents()
    request = RequestRetrainingOperator(task_id="request_retraining", asset=retrain_asset(spec.name), retrain=True, reason=judged["reason"], model_version=version, monitoring_run=judged["mlflow_run_id"])
    extra = request.execute({**task_context(f"{spec.name}__monitoring", "shifted"), "outlet_events": events})
    assert events[retrain_asset(spec.name)].extra == extra and extra["reason"].startswith("drift in 4 feature(s)")


def test_no_champion_means_nothing_to_judge(settings):
    from ct_airflow.operators.monitor import MonitorModelOperator

    result = MonitorModelOperator(task_id="monitor", spec_path=SEATTLE, window_end=datetime.now(UTC).isoformat()).execute(task_context("seattle_temp_max__monitoring"))
    assert result["retrain"] is False and "no champion" in result["reason"]


def test_while_the_model_is_paused_monitor_skips_before_reading_anything(settings):
    from airflow.sdk.exceptions import AirflowSkipException
    from ct_airflow.operators.monitor import MonitorModelOperator

    monitor = MonitorModelOperator(task_id="monitor", spec_path=SEATTLE, window_end=datetime.now(UTC).isoformat())
    with pytest.raises(AirflowSkipException, match="The training DAG 'seattle_temp_max' is paused, and its monitoring follows it"):
        monitor.execute(task_context("seattle_temp_max__monitoring", paused={"seattle_temp_max": True}))
    assert not (settings.monitoring_dir / "latest").exists()


def test_a_model_dag_the_api_does_not_know_yet_skips_and_other_api_errors_are_retried():
    from airflow.sdk.exceptions import AirflowRuntimeError, AirflowSkipException, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse
    from ct_airflow.operators.monitor import skip_while_model_paused

    class Answering:
        def __init__(self, status_code):
            self.status_code = status_code

        def get_dag(self, dag_id):
            raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": self.status_code, "message": "x"}))

    with pytest.raises(AirflowSkipException, match="not loaded"):
        skip_while_model_paused({"ti": Answering(404)}, "m")
    with pytest.raises(AirflowRuntimeError):
        skip_while_model_paused({"ti": Answering(500)}, "m")


def test_the_retrain_reason_is_tagged_on_the_run_and_version_it_caused(settings, champion):
    """An asset-triggered training run: the event's reason reaches MLflow through lineage()."""
    from ct_airflow.assets import retrain_asset
    from ct_airflow.common import lineage

    from include.fingerprint import compute_fingerprint
    from include.training import train_and_register

    spec, _, frame, registry = champion
    events = {retrain_asset(spec.name): [SimpleNamespace(extra={"reason": "drift in 1 feature(s): wind (ks 0.4, p=1e-9)", "model_version": "1", "source": "seattle_temp_max__monitoring/r1"})]}
    found = lineage({**task_context(spec.name, "asset_triggered__1"), "triggering_asset_events": events})
    assert found["retrain_reason"] == "seattle_temp_max__monitoring/r1: version 1: drift in 1 feature(s): wind (ks 0.4, p=1e-9)"
    result = train_and_register(spec, frame, {"md5": "x" * 32}, compute_fingerprint("x" * 32, {**spec.training_config(), "t": time.time()}), found, registry)
    tags = registry.version(spec.name, result.version).tags
    assert tags["retrain_reason"] == found["retrain_reason"]
    assert "retrain_reason" not in lineage(task_context(spec.name, "scheduled__1"))
