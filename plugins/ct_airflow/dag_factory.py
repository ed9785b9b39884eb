"""Model spec -> Airflow DAG. Spec first, render second: this file only wires operators.

ingest -> version_snapshot -> validate -> fingerprint -> train -> evaluate -> promote -> deploy
                                              `-----------(nothing changed)------------^
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import (
    DAG,
    AssetOrTimeSchedule,
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    TaskGroup,
    XComArg,
)

from ct_airflow.alerts import PipelineAlertNotifier, deadline_missed
from ct_airflow.assets import retrain_asset
from ct_airflow.dag_docs import dag_doc, task_docs
from ct_airflow.invalid_spec import build_invalid_spec_dag
from ct_airflow.operators.deploy import DeployModelOperator
from ct_airflow.operators.dvc import DvcVersionOperator
from ct_airflow.operators.fingerprint import FingerprintBranchOperator
from ct_airflow.operators.ingest import IngestOperator
from ct_airflow.operators.mlflow import EvaluateModelOperator, PromoteModelOperator, TrainModelOperator
from ct_airflow.operators.validate import GxValidateOperator
from ct_airflow.run_params import run_params
from include.errors import SpecError
from include.settings import MODELS_DIR
from include.spec import ModelSpec, discover_specs, load_spec

DEFAULT_RETRIES = 2


def retry_delay() -> timedelta:
    """Seconds before a failed task retries (``CT_TASK_RETRY_DELAY_S``, default 30): a fault's retry, e.g. after a worker died."""
    import os

    raw = os.environ.get("CT_TASK_RETRY_DELAY_S", "30")
    try:
        return timedelta(seconds=float(raw))
    except ValueError:
        raise SpecError(f"CT_TASK_RETRY_DELAY_S: expected a number of seconds, found {raw!r}") from None


def training_schedule(model: str, cron: str) -> AssetOrTimeSchedule:
    """Nightly (the YAML's cron), or when ``<model>__monitoring`` asks for retraining (drift, live quality)."""
    return AssetOrTimeSchedule(timetable=CronDataIntervalTimetable(cron, timezone="UTC"), assets=[retrain_asset(model)])


def build_dag(path: Path) -> DAG:
    spec = load_spec(path)
    spec_path = str(path)
    docs = task_docs(spec)
    start = datetime.combine(spec.start_date, datetime.min.time(), tzinfo=UTC)
    alert = PipelineAlertNotifier(model=spec.name, conn_id=spec.alerts.conn_id, owner_email=spec.owner.email)
    with DAG(
        dag_id=spec.name,
        description=spec.description,
        doc_md=dag_doc(spec, path),
        schedule=training_schedule(spec.name, spec.schedule),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        tags=sorted({"continuous-training", f"model:{spec.name}", f"team:{spec.owner.team}", spec.task, *spec.tags}),
        owner_links={spec.owner.team: f"mailto:{spec.owner.email}"} if spec.owner.email else {},
        default_args={"owner": spec.owner.team, "retries": DEFAULT_RETRIES, "retry_delay": retry_delay(), "on_failure_callback": [alert]},
        deadline=run_deadline(spec),
        params=run_params(spec),
    ) as dag:
        # Stages as task groups; prefix_group_id=False keeps the task ids that tests and links use.
        with TaskGroup("data", prefix_group_id=False, tooltip="ingest, version and validate the data"):
            # Which days: the README's rule (include/run_window.py), the same for every kind of run.
            ingest = IngestOperator(task_id="ingest", spec_path=spec_path, doc_md=docs["ingest"])
            version = DvcVersionOperator(task_id="version_snapshot", snapshot_path=ingest.output["snapshot_path"], model=spec.name, doc_md=docs["version_snapshot"])
            validate = GxValidateOperator(
                task_id="validate", spec_path=spec_path, snapshot_path=ingest.output["snapshot_path"], batch_days=ingest.output["batch_days"],
                data_md5=version.output["md5"], doc_md=docs["validate"],
            )
        with TaskGroup("model", prefix_group_id=False, tooltip="train a challenger when something changed, evaluate it"):
            fingerprint = FingerprintBranchOperator(
                task_id="fingerprint", spec_path=spec_path, data_md5=version.output["md5"], train_task_id="train", skip_to_task_id="deploy",
                doc_md=docs["fingerprint"],
            )
            train = TrainModelOperator(
                task_id="train", spec_path=spec_path, data_md5=version.output["md5"], data_remote=version.output["remote"],
                fingerprint=XComArg(fingerprint, key="fingerprint"), validation_report=validate.output["html_report"],
                doc_md=docs["train"],
            )
            evaluate = EvaluateModelOperator(
                task_id="evaluate", spec_path=spec_path, data_md5=version.output["md5"], challenger_version=train.output["version"],
                doc_md=docs["evaluate"],
            )
        with TaskGroup("release", prefix_group_id=False, tooltip="promote the champion and serve it"):
            promote = PromoteModelOperator(
                task_id="promote", spec_path=spec_path, challenger_version=evaluate.output["challenger_version"],
                promote=evaluate.output["promote"], reason=evaluate.output["reason"], expected_champion=evaluate.output["champion_version"],
                doc_md=docs["promote"],
            )
            deploy = DeployModelOperator(task_id="deploy", spec_path=spec_path, trigger_rule="none_failed_min_one_success", doc_md=docs["deploy"])
        version >> validate >> fingerprint >> [train, deploy]
        promote >> deploy
    return dag


def run_deadline(spec: ModelSpec) -> DeadlineAlert:
    """Alert the team when a run is not finished ``alerts.deadline_minutes`` after it was queued."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=spec.alerts.deadline_minutes),
        callback=AsyncCallback(
            deadline_missed,
            kwargs={"model": spec.name, "conn_id": spec.alerts.conn_id, "minutes": spec.alerts.deadline_minutes, "owner_email": spec.owner.email},
        ),
    )


def build_all(models_dir: Path = MODELS_DIR, only: str | None = None) -> dict[str, DAG]:
    """One DAG per YAML, in file order; ``only`` builds just the DAG a task runner needs."""
    dags = {}
    for path in discover_specs(models_dir):
        if only is not None and path.stem != only:
            continue
        try:
            dags[path.stem] = build_dag(path)
        except SpecError as error:
            # Same dag_id and schedule, failing and alerting; dags/model_spec_errors.py adds the import error.
            stand_in = build_invalid_spec_dag(path, error, training_schedule)
            if stand_in is not None:
                dags[path.stem] = stand_in
    return dags
