"""Monitoring for real: served traffic -> <model>__monitoring with dag.test() -> Asset event or not.

One trained and served Seattle model (the e2e tier's shared first run), then three traffic scenarios
from include/monitoring/scenarios.py against the real model server: traffic drawn from the
champion's training snapshot (nothing happens), the same traffic with outcomes that the
model gets badly wrong (live quality triggers retraining), shifted traffic (drift triggers
it). A trigger is checked where the scheduler reads it: the Asset event in Airflow's
metadata DB, with its reason, and the queued run of the training DAG. Each scenario starts from an
empty prediction log (the earlier traffic is moved aside), so each can run alone or in any order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from include.monitoring import scenarios
from include.registry import CHAMPION, Registry
from include.settings import MODELS_DIR
from include.spec import load_spec

pytestmark = pytest.mark.e2e

MODEL = "seattle_temp_max"
SPEC = load_spec(MODELS_DIR / f"{MODEL}.yaml")
_runs = iter(range(1, 100))


def monitor(platform) -> dict[str, str]:
    """One monitoring run whose window ends after now (its interval ends on the next full hour)."""
    from ct_airflow.monitoring_dag import build_all_monitoring

    dag = build_all_monitoring(only=f"{MODEL}__monitoring")[f"{MODEL}__monitoring"]
    logical = datetime.now(UTC) + timedelta(hours=1, seconds=next(_runs))
    run = dag.test(logical_date=logical)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return {**states, "_run": str(run.state), "_run_id": run.run_id}


def asset_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetEvent.extra, AssetEvent.source_dag_id).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.name == f"{MODEL}__retrain")).all()
        return [{"extra": extra, "source_dag_id": dag_id} for extra, dag_id in rows]


def queued_training_runs() -> list[str]:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(AssetDagRunQueue.target_dag_id)))


def outcomes_joined(platform, answered, actuals) -> int:
    wait_logged(platform, {rid for rid, _, _ in answered})
    return scenarios.feed_outcomes(platform.serving_url, MODEL, answered, actuals)


def wait_logged(platform, request_ids: set, timeout_s: float = 30) -> None:
    """The prediction log is written off the request path: wait (bounded) until it holds these requests."""
    import time

    from include.monitoring.prediction_log import read_records

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if request_ids <= {r["request_id"] for r in read_records(platform.predictions_dir, MODEL, 0, 4e9)}:
            return
        time.sleep(0.1)
    raise AssertionError(f"requests {sorted(request_ids)[:3]}... not in the prediction log after {timeout_s} s")


@pytest.fixture(scope="module")
def reference(platform, trained, tmp_path_factory):
    """The served champion and its training snapshot, which the scenarios draw traffic from."""
    from include.versioning import DvcWorkspace

    # A served model's DAG is unpaused, and its monitoring follows that: monitor skips while the model is paused.
    unpause(MODEL)
    champion = Registry(platform.mlflow_tracking_uri, platform.mlflow_artifact_root).by_alias(MODEL, CHAMPION)
    path = DvcWorkspace(platform.dvc_workspace, platform.dvc_remote_url).fetch(champion.tags["data_md5"], tmp_path_factory.mktemp("ref") / "snapshot.parquet")
    return champion, pd.read_parquet(path)


@pytest.fixture
def served(platform, reference, tmp_path):
    """This scenario's traffic only: the model's earlier predictions and outcomes are moved aside (the server
    opens the hourly file on every write, so it starts new ones), and the champion is the one served."""
    import shutil

    for folder in (platform.predictions_dir / MODEL, platform.outcomes_dir / MODEL):
        if folder.exists():
            shutil.move(folder, tmp_path / f"earlier-{folder.parent.name}")
    champion, training = reference
    assert requests.get(f"{platform.serving_url}/models/{MODEL}", timeout=10).json()["version"] == champion.version
    return champion, training


def new_events(before: list[dict]) -> list[dict]:
    return asset_events()[len(before):]


def test_training_like_traffic_with_good_outcomes_triggers_nothing(platform, served):
    champion, training = served
    traffic = scenarios.from_training(SPEC, training, 120, seed=11)
    answered = scenarios.send(platform.serving_url, MODEL, traffic[SPEC.features.all])
    assert outcomes_joined(platform, answered, traffic[SPEC.target].tolist()) == 120
    events, queued = asset_events(), queued_training_runs()

    states = monitor(platform)

    assert states["monitor"] == "success" and states["request_retraining"] == "skipped", states
    assert new_events(events) == [] and queued_training_runs() == queued
    latest = platform.monitoring_dir / "latest" / f"{MODEL}.json"
    import json

    figures = json.loads(latest.read_text())
    assert figures["version"] == champion.version and figures["live_rows"] == 120
    assert figures["outcome_rows"] == 120
    assert figures["drifted"] == [] and figures["quality"]["rmse"] < SPEC.monitoring.quality["rmse"].max
    report = Path(figures["report"]).read_text()
    assert "no action" in report and report.count("<img") == 4
    # Logged to MLflow against the version it judged.
    registry = Registry(platform.mlflow_tracking_uri, platform.mlflow_artifact_root)
    run = registry.client.get_run(figures["mlflow_run_id"])
    assert run.data.tags["ct.kind"] == "monitoring" and run.data.tags["model_version"] == champion.version
    assert {"drift_statistic.temp_min", "drift_p_value.weather", "live_rmse"} <= set(run.data.metrics)
    assert registry.version(MODEL, champion.version).tags["monitoring.retrain"] == "false"
    # The model server exports the figures to Prometheus.
    metrics = requests.get(f"{platform.serving_url}/metrics", timeout=10).text
    assert f'ct_drift_detected{{feature="temp_min",model="{MODEL}"}} 0.0' in metrics
    assert f'ct_live_quality{{metric="rmse",model="{MODEL}"}}' in metrics


def unpause(dag_id: str) -> None:
    """New DAGs start paused; the scheduler queues no run of a paused DAG for an Asset event, and monitor skips."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))


def test_outcomes_the_model_gets_wrong_trigger_retraining_through_the_asset(platform, served):
    _, training = served
    unpause(MODEL)
    traffic = scenarios.from_training(SPEC, training, 60, seed=12)
    answered = scenarios.send(platform.serving_url, MODEL, traffic[SPEC.features.all])
    outcomes_joined(platform, answered, scenarios.degrade(SPEC, [p for _, _, p in answered]))
    before = asset_events()

    states = monitor(platform)

    assert states["request_retraining"] == "success", states
    events = new_events(before)
    assert len(events) == 1 and events[0]["source_dag_id"] == f"{MODEL}__monitoring"
    reason = events[0]["extra"]["reason"]
    assert "live quality on" in reason and "rmse" in reason and "drift in" not in reason
    assert queued_training_runs() == [MODEL]  # the scheduler creates the training run from this


def test_shifted_traffic_triggers_retraining_for_drift(platform, served):
    _, training = served
    unpause(MODEL)
    traffic = scenarios.shifted(SPEC, training, 150, seed=13)
    answered = scenarios.send(platform.serving_url, MODEL, traffic[SPEC.features.all])
    wait_logged(platform, {rid for rid, _, _ in answered})
    before = asset_events()

    states = monitor(platform)

    assert states["request_retraining"] == "success", states
    (event,) = new_events(before)
    reason = event["extra"]["reason"]
    assert queued_training_runs() == [MODEL]
    assert "drift in 4 feature(s)" in reason and "temp_min (ks" in reason and "weather (chi2" in reason
    metrics = requests.get(f"{platform.serving_url}/metrics", timeout=10).text
    assert f'ct_drift_detected{{feature="wind",model="{MODEL}"}} 1.0' in metrics
