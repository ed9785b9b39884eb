"""Model spec -> ``<model>__monitoring`` DAG: monitor -> request_retraining (Asset event or skip).

Kept apart from dag_factory.py (the training DAG) so that each stays one screen long; the
same spec YAML drives both (its ``monitoring:`` section).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, CronDataIntervalTimetable

from ct_airflow.assets import retrain_asset
from ct_airflow.operators.monitor import MonitorModelOperator, RequestRetrainingOperator
from include.errors import SpecError
from include.settings import MODELS_DIR
from include.spec import ModelSpec, discover_specs, load_spec

SUFFIX = "__monitoring"


def _doc(spec: ModelSpec) -> str:
    m = spec.monitoring
    quality = ", ".join(f"{k} {'≥ ' + str(b.min) if b.min is not None else ''}{'≤ ' + str(b.max) if b.max is not None else ''}" for k, b in spec.live_quality_thresholds.items()) or "none"
    return f"""### Monitoring of {spec.name}

Every run compares the inputs the model server logged over the last **{m.window_hours} h** with the
training snapshot of the current `champion`, per feature (Kolmogorov-Smirnov for numeric, chi-square
for categorical, scipy.stats), and computes live quality where outcomes came back.

| | |
|---|---|
| drift | p < {m.drift.p_value} and statistic ≥ {m.drift.min_statistic}; retrain when more than {m.drift.max_drifted_features} feature(s) drift (needs ≥ {m.min_rows} live rows) |
| live quality | {quality} (needs ≥ {m.min_outcomes} outcomes) |
| retraining | an event on asset `{retrain_asset(spec.name).name}` triggers DAG `{spec.name}`; the reason is in the event's extra |

Follows `{spec.name}`: while that DAG is paused, `monitor` (and so the whole run) is skipped.

Figures: the `monitor` task's log, a run tagged `ct.kind=monitoring` in MLflow experiment `{spec.name}`,
the HTML report, and the model server's `/metrics` (`ct_drift_*`, `ct_live_quality`).
"""


def build_monitoring_dag(spec: ModelSpec, path: Path) -> DAG:
    asset = retrain_asset(spec.name)
    with DAG(
        dag_id=f"{spec.name}{SUFFIX}",
        description=f"Drift and live quality of {spec.name}; requests retraining when thresholds are crossed.",
        doc_md=_doc(spec),
        schedule=CronDataIntervalTimetable(spec.monitoring.schedule, timezone="UTC"),
        start_date=datetime.combine(spec.start_date, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        # Follows the model's pause state instead (monitor skips while the model's DAG is paused): unpausing
        # a new model in the UI must be enough to close the drift -> retraining loop.
        is_paused_upon_creation=False,
        render_template_as_native_obj=True,
        tags=sorted({"monitoring", f"team:{spec.owner.team}", spec.task, *spec.tags}),
        default_args={"owner": spec.owner.team, "retries": 2, "retry_delay": timedelta(seconds=30)},
    ) as dag:
        monitor = MonitorModelOperator(
            task_id="monitor", spec_path=str(path),
            doc_md="Drift per feature and live quality of the champion over the window; MLflow run, HTML report, Prometheus figures.",
        )
        RequestRetrainingOperator(
            task_id="request_retraining", asset=asset, retrain=monitor.output["retrain"], reason=monitor.output["reason"],
            model_version=monitor.output["version"], monitoring_run=monitor.output["mlflow_run_id"],
            doc_md=f"Emits an event on asset `{asset.name}` (which triggers `{spec.name}`) when a threshold is crossed; skipped otherwise.",
        )
    return dag


def build_all_monitoring(models_dir: Path = MODELS_DIR, only: str | None = None) -> dict[str, DAG]:
    """One monitoring DAG per valid spec with ``monitoring.enabled`` (an invalid spec already shows in its training DAG)."""
    dags = {}
    for path in discover_specs(models_dir):
        dag_id = f"{path.stem}{SUFFIX}"
        if only is not None and only != dag_id:
            continue
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        if spec.monitoring.enabled:
            dags[dag_id] = build_monitoring_dag(spec, path)
    return dags
