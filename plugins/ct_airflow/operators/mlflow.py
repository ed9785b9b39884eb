"""Training, evaluation and promotion against the MLflow tracking store and registry."""

from __future__ import annotations

from airflow.sdk import BaseOperator

from ct_airflow.common import audit, data_until, is_set, lineage, model_spec, verdicts_are_final, with_overrides
from ct_airflow.hooks.dvc import DvcHook
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.links import EvaluationReportLink, MlflowRunLink, ModelVersionLink
from ct_airflow.pools import MODEL_REGISTRY_POOL


def _snapshot_by_md5(md5: str):
    """Read the snapshot by its DVC md5, not by path: a concurrent run may have replaced the file."""
    import tempfile
    from pathlib import Path

    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = DvcHook().workspace.fetch(md5, Path(tmp) / "snapshot.parquet")
        return pd.read_parquet(path)


class TrainModelOperator(BaseOperator):
    """Fit the model on the snapshot, log one MLflow run, register a version aliased ``challenger``."""

    template_fields = ("spec_path", "data_md5", "data_remote", "fingerprint", "validation_report", "overrides")
    ui_color = "#0194e2"
    operator_extra_links = (MlflowRunLink(), ModelVersionLink())
    ui_fgcolor = "#ffffff"

    def __init__(self, *, spec_path: str, data_md5: str, data_remote: str, fingerprint, validation_report: str = "", overrides=None, mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.overrides = overrides
        self.spec_path = spec_path
        self.data_md5 = data_md5
        self.data_remote = data_remote
        self.fingerprint = fingerprint
        self.validation_report = validation_report
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context):
        from include.training import train_and_register

        spec = with_overrides(model_spec(self.spec_path), self.overrides, context)
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        snapshot = _snapshot_by_md5(self.data_md5)
        result = train_and_register(
            spec, snapshot, {"md5": self.data_md5, "remote": self.data_remote}, self.fingerprint,
            {**lineage(context), "validation_report": self.validation_report}, registry,
        )
        self.log.info("Registered %s version %s (run %s) as challenger; holdout %s", spec.name, result.version, result.run_id, result.holdout_metrics)
        return result.to_dict()


class EvaluateModelOperator(BaseOperator):
    """Challenger vs champion on the same holdout; tags the decision and its reason on the version."""

    template_fields = ("spec_path", "data_md5", "challenger_version")
    ui_color = "#43c59e"
    operator_extra_links = (MlflowRunLink(), ModelVersionLink(), EvaluationReportLink())

    def __init__(self, *, spec_path: str, data_md5: str, challenger_version: str, mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.spec_path = spec_path
        self.data_md5 = data_md5
        self.challenger_version = challenger_version
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context):
        from include.evaluation import evaluate_challenger
        from include.model_card import write_evaluation_artifacts

        spec = model_spec(self.spec_path)
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        snapshot = _snapshot_by_md5(self.data_md5)
        report = evaluate_challenger(spec, snapshot, registry, str(self.challenger_version))
        try:
            card = write_evaluation_artifacts(spec, registry, report, snapshot, MlflowRegistryHook.settings().reports_dir)
            self.log.info("Plots and model card: %s (and the run's artifacts, folder model_card/)", card)
        except Exception:  # the report explains the verdict; failing to draw it must not change or hide it
            self.log.warning("Could not write the evaluation plots and model card of %s version %s; the decision stands", spec.name, report["challenger_version"], exc_info=True)
        self.log.info("Challenger %s: %s; champion %s: %s", report["challenger_version"], report["challenger"], report["champion_version"], report["champion"])
        self.log.info("Decision: %s (%s)", "PROMOTE" if report["promote"] else "REJECT", report["reason"])
        return {
            "promote": report["promote"], "reason": report["reason"], "challenger_version": report["challenger_version"],
            "run_id": report["challenger_run_id"],
            # What promote compares against: the champion may move before it runs (compare-and-set).
            "champion_version": report["champion_version"],
        }


class PromoteModelOperator(BaseOperator):
    """Move ``champion`` to the challenger (former champion -> ``previous``), or skip with the reason."""

    template_fields = ("spec_path", "challenger_version", "promote", "reason", "expected_champion", "dry_run", "allow_older_champion")
    ui_color = "#f4a261"
    operator_extra_links = (ModelVersionLink(),)

    def __init__(
        self, *, spec_path: str, challenger_version: str, promote, reason: str, expected_champion="any", dry_run="{{ params.dry_run }}",
        allow_older_champion="{{ params.allow_older_champion }}", mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, **kwargs,
    ):
        kwargs.setdefault("pool", MODEL_REGISTRY_POOL)
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.allow_older_champion = allow_older_champion
        self.spec_path = spec_path
        self.expected_champion = expected_champion
        self.challenger_version = challenger_version
        self.promote = promote
        self.reason = reason
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        from include.errors import PromotionSupersededError
        from include.promotion import promote

        spec = model_spec(self.spec_path)
        if is_set(self.dry_run):
            raise AirflowSkipException(f"Dry run: {spec.name} version {self.challenger_version} would be {'promoted' if is_set(self.promote) else 'rejected'} ({self.reason})")
        if not is_set(self.promote):
            raise AirflowSkipException(f"Not promoting {spec.name} version {self.challenger_version}: {self.reason}")
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        try:
            with verdicts_are_final():
                result = promote(
                    registry, spec.name, str(self.challenger_version), self.reason,
                    promoted_by=f"airflow:{context['dag'].dag_id}", airflow_run_id=context["run_id"],
                    expected_champion=self.expected_champion,
                    data_until=data_until(context), allow_older=is_set(self.allow_older_champion),
                    trigger_reason=audit(context)["trigger_reason"],
                )
        except PromotionSupersededError as exc:
            # Not a failure of this run: the champion another run promoted keeps serving (deploy still runs).
            raise AirflowSkipException(str(exc)) from exc
        self._refresh_model_card(spec, registry)
        if result["action"] == "kept newer champion":
            raise AirflowSkipException(result["why"])
        self.log.info("%s: champion is now version %s (previous: %s)", spec.name, result["champion"], result["previous"])
        return result

    def _refresh_model_card(self, spec, registry) -> None:
        """The card's approval section must say what promotion decided."""
        from include.model_card import card_dir, publish_model_card

        reports = MlflowRegistryHook.settings().reports_dir
        if (card_dir(reports, spec.name, str(self.challenger_version)) / "evaluation_report.json").is_file():
            publish_model_card(spec, registry, str(self.challenger_version), reports)
