"""One monitoring run of one model: read, check, report, log to MLflow, export the figures.

Called by the ``monitor`` task of ``<model>__monitoring``; no Airflow here. The window is
``[window_end - monitoring.window_hours, window_end)`` where ``window_end`` is the run's
data-interval end, so a rerun of the same interval sees the same rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from include.ingest import write_atomically
from include.monitoring.check import MonitoringResult, check, live_frame
from include.monitoring.prediction_log import read_records
from include.monitoring.report import write_report
from include.registry import CHAMPION, Registry
from include.settings import Settings
from include.spec import ModelSpec

log = logging.getLogger(__name__)


def monitor_model(spec: ModelSpec, settings: Settings, registry: Registry, fetch_snapshot: Callable[[str], pd.DataFrame], window_end: float, run_key: str) -> dict:
    """Returns the result as a dict plus ``report`` (HTML path) and ``mlflow_run_id``."""
    start = window_end - spec.monitoring.window_hours * 3600
    champion = registry.by_alias(spec.name, CHAMPION)
    if champion is None:
        result = MonitoringResult(spec.name, "", start, window_end, 0, 0, reason=f"no champion of {spec.name} in the registry yet: nothing is served, nothing to monitor")
        return {**result.to_dict(), "report": "", "mlflow_run_id": ""}
    md5 = champion.tags.get("data_md5")
    if not md5:
        raise ValueError(f"{spec.name} version {champion.version} (champion) has no data_md5 tag: its training snapshot cannot be found to compare with")
    reference = fetch_snapshot(md5)
    predictions = list(read_records(settings.predictions_dir, spec.name, start, window_end))
    outcomes = list(read_records(settings.outcomes_dir, spec.name, start, window_end))
    result = check(spec, champion.version, reference, predictions, outcomes, (start, window_end))
    log.info("%s version %s: %s", spec.name, champion.version, result.reason)

    report = settings.reports_dir / spec.name / "monitoring" / f"{run_key}.html"
    if result.live_rows:
        write_report(result, reference, live_frame(predictions, champion.version), report)
    else:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"<!doctype html><html><body><h1>{spec.name} version {champion.version}</h1><p>{result.reason}</p></body></html>")
    run_id = log_to_mlflow(result, registry, spec, report)
    figures = {**result.to_dict(), "report": str(report), "mlflow_run_id": run_id}
    # What the model server exports as gauges (include/serving/telemetry.py), replaced atomically.
    write_atomically(settings.monitoring_dir / "latest" / f"{spec.name}.json", json.dumps(figures, indent=1).encode())
    return figures


def log_to_mlflow(result: MonitoringResult, registry: Registry, spec: ModelSpec, report: Path) -> str:
    """One run in the model's experiment, tagged with the version it judged; the version points back."""
    import mlflow

    registry.activate()
    metrics = {"live_rows": result.live_rows, "outcome_rows": result.outcome_rows, "drifted_features": len(result.drifted), "retrain": int(result.retrain)}
    for f in result.features:
        metrics[f"drift_statistic.{f['feature']}"] = f["statistic"]
        metrics[f"drift_p_value.{f['feature']}"] = f["p_value"]
    metrics.update({f"live_{k}": v for k, v in result.quality.items()})
    with mlflow.start_run(experiment_id=registry.experiment_id(spec.name), run_name=f"monitoring v{result.version}") as run:
        mlflow.set_tags({"ct.kind": "monitoring", "model_version": result.version, "retrain": str(result.retrain).lower(), "reason": result.reason[:5000]})
        mlflow.log_params({"window_start": result.window_start, "window_end": result.window_end, "p_value": spec.monitoring.drift.p_value, "min_statistic": spec.monitoring.drift.min_statistic})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report), "monitoring")
    registry.tag_version(spec.name, result.version, {"monitoring.last_run": run.info.run_id, "monitoring.retrain": str(result.retrain).lower(), "monitoring.reason": result.reason[:5000]})
    return run.info.run_id
