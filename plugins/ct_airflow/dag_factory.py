"""Model spec -> Airflow DAG. Spec first, render second: this file only wires operators.

ingest -> version_snapshot -> validate -> fingerprint -> train -> evaluate -> promote -> deploy
                                              `-----------(nothing changed)------------^
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import DAG, AssetOrTimeSchedule, BaseOperator, CronDataIntervalTimetable, Param, XComArg

from ct_airflow.assets import retrain_asset

from ct_airflow.operators.deploy import DeployModelOperator
from ct_airflow.operators.dvc import DvcVersionOperator
from ct_airflow.operators.fingerprint import FingerprintBranchOperator
from ct_airflow.operators.ingest import IngestOperator
from ct_airflow.operators.mlflow import EvaluateModelOperator, PromoteModelOperator, TrainModelOperator
from ct_airflow.operators.validate import GxValidateOperator
from include.errors import SpecError
from include.settings import MODELS_DIR, Settings
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


def _bound(metric: str, bound) -> str:
    parts = [f"≥ {bound.min}" if bound.min is not None else "", f"≤ {bound.max}" if bound.max is not None else ""]
    return f"{metric} {' and '.join(p for p in parts if p)}"


def _doc(spec: ModelSpec, path: Path) -> str:
    """The DAG's page in the UI: what the model is, who owns it, how it is judged, where it is served."""
    thresholds = ", ".join(_bound(metric, bound) for metric, bound in spec.evaluation.thresholds.items())
    source = f"files under `{spec.source.path}`" if spec.source.kind == "files" else f"SQL over connection `{spec.source.conn_id}`"
    root = MODELS_DIR.parent.parent
    return f"""### {spec.name}

{spec.description}

| | |
|---|---|
| owner | {spec.owner.team} {spec.owner.email or ''} |
| task | {spec.task}: `{spec.target}` from {', '.join(f'`{f}`' for f in spec.features.all)} |
| estimator | `{spec.estimator.class_}` |
| source | {source}, {spec.window_days}-day window |
| thresholds | {thresholds or 'none'}; promote when `{spec.evaluation.primary_metric}` beats the champion by ≥ {spec.evaluation.promotion_margin} |
| served at | `{Settings.from_env().serving_url}/models/{spec.name}/invocations` ({spec.deploy.target}) |
| spec | `{path.relative_to(root) if path.is_relative_to(root) else path}` |

Training is skipped when the data, training config, code and libraries are unchanged
(trigger with **force_retrain** to train anyway).
"""


def build_dag(path: Path) -> DAG:
    spec = load_spec(path)
    spec_path = str(path)
    start = datetime.combine(spec.start_date, datetime.min.time(), tzinfo=timezone.utc)
    with DAG(
        dag_id=spec.name,
        description=spec.description,
        doc_md=_doc(spec, path),
        # Nightly, or when <model>__monitoring asks for retraining (drift, live quality).
        schedule=AssetOrTimeSchedule(timetable=CronDataIntervalTimetable(spec.schedule, timezone="UTC"), assets=[retrain_asset(spec.name)]),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        tags=sorted({"continuous-training", f"team:{spec.owner.team}", spec.task, *spec.tags}),
        default_args={"owner": spec.owner.team, "retries": DEFAULT_RETRIES, "retry_delay": retry_delay()},
        params={
            "force_retrain": Param(False, type="boolean", title="Force retraining", description="Train even if a model with the same data, config and code is registered."),
        },
    ) as dag:
        ingest = IngestOperator(
            task_id="ingest", spec_path=spec_path,
            # An asset-triggered run has no data interval: it ingests the day before it runs.
            interval_start="{{ data_interval_start or (dag_run.run_after - macros.timedelta(days=1)) }}",
            interval_end="{{ data_interval_end or dag_run.run_after }}",
            doc_md="Reads the data interval from the source into immutable daily partitions and builds the rolling-window snapshot.")
        version = DvcVersionOperator(task_id="version_snapshot", snapshot_path=ingest.output["snapshot_path"], model=spec.name, doc_md="`dvc add` + `dvc push` of the snapshot; its md5 identifies the training data everywhere.")
        validate = GxValidateOperator(
            task_id="validate", spec_path=spec_path, snapshot_path=ingest.output["snapshot_path"], batch_days=ingest.output["batch_days"],
            doc_md="Great Expectations suite from the model spec. On failure the batch is quarantined and nothing downstream runs.",
        )
        fingerprint = FingerprintBranchOperator(
            task_id="fingerprint", spec_path=spec_path, data_md5=version.output["md5"], train_task_id="train", skip_to_task_id="deploy",
            doc_md="Skips training when a loadable version with the same fingerprint (data md5, config, code, libraries) exists.",
        )
        train = TrainModelOperator(
            task_id="train", spec_path=spec_path, data_md5=version.output["md5"], data_remote=version.output["remote"],
            fingerprint=XComArg(fingerprint, key="fingerprint"), validation_report=validate.output["html_report"],
            doc_md="One MLflow run; registers a new model version with the alias `challenger`.",
        )
        evaluate = EvaluateModelOperator(
            task_id="evaluate", spec_path=spec_path, data_md5=version.output["md5"], challenger_version=train.output["version"],
            doc_md="Challenger vs champion on the same holdout; the decision and its reason are tagged on the version.",
        )
        promote = PromoteModelOperator(
            task_id="promote", spec_path=spec_path, challenger_version=evaluate.output["challenger_version"],
            promote=evaluate.output["promote"], reason=evaluate.output["reason"], expected_champion=evaluate.output["champion_version"],
            doc_md="Moves the `champion` alias (the former champion becomes `previous`); skipped when the challenger is rejected.",
        )
        deploy = DeployModelOperator(
            task_id="deploy", spec_path=spec_path, trigger_rule="none_failed_min_one_success",
            doc_md="Serves the champion; health and smoke checks; rolls back to the previous version on failure.",
        )
        version >> validate >> fingerprint >> [train, deploy]
        promote >> deploy
    return dag


class SpecErrorOperator(BaseOperator):
    """Stands in for the pipeline of a model whose YAML is invalid, so the error shows in the UI."""

    def __init__(self, *, error: str, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(self.error)


def build_invalid_spec_dag(path: Path, error: SpecError) -> DAG:
    with DAG(
        dag_id=path.stem, schedule=None, start_date=datetime(2020, 1, 1, tzinfo=timezone.utc), catchup=False,
        tags=["continuous-training", "invalid-spec"], doc_md=f"### Invalid model spec\n\n```\n{error}\n```\n",
        default_args={"owner": "platform", "retries": 0},
    ) as dag:
        SpecErrorOperator(task_id="invalid_spec", error=str(error))
    return dag


def build_all(models_dir: Path = MODELS_DIR, only: str | None = None) -> dict[str, DAG]:
    """One DAG per YAML, in file order; ``only`` builds just the DAG a task runner needs."""
    dags = {}
    for path in discover_specs(models_dir):
        if only is not None and path.stem != only:
            continue
        try:
            dags[path.stem] = build_dag(path)
        except SpecError as error:
            dags[path.stem] = build_invalid_spec_dag(path, error)
    return dags
