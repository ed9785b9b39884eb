"""Decide whether to train: skip when a version with the same fingerprint and its model files exists."""

from __future__ import annotations

from airflow.sdk import BaseBranchOperator

from ct_airflow.common import model_spec, with_overrides
from ct_airflow.hooks.mlflow import MlflowRegistryHook


class FingerprintBranchOperator(BaseBranchOperator):
    """Fingerprint data md5 + training config + training code + library versions.

    Branches to ``train_task_id`` when no registered version has this fingerprint
    (or ``force_retrain`` is set), otherwise to ``skip_to_task_id``: the training,
    evaluation and promotion tasks show as *skipped* and the reason is logged.
    Pushes the fingerprint (XCom key ``fingerprint``) for the training task.
    """

    template_fields = ("spec_path", "data_md5", "force_retrain", "overrides")
    ui_color = "#fff3b0"

    def __init__(self, *, spec_path: str, data_md5: str, train_task_id: str, skip_to_task_id: str, force_retrain="{{ params.force_retrain }}", overrides=None, mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, **kwargs):
        super().__init__(**kwargs)
        self.spec_path = spec_path
        self.data_md5 = data_md5
        self.train_task_id = train_task_id
        self.skip_to_task_id = skip_to_task_id
        self.force_retrain = force_retrain
        self.overrides = overrides
        self.mlflow_conn_id = mlflow_conn_id

    def choose_branch(self, context):
        from include.fingerprint import compute_fingerprint

        spec = with_overrides(model_spec(self.spec_path), self.overrides, context)
        fingerprint = compute_fingerprint(self.data_md5, spec.training_config())
        context["ti"].xcom_push(key="fingerprint", value=fingerprint)
        self.log.info("Fingerprint %s from %s", fingerprint["fingerprint"], fingerprint["parts"])
        if str(self.force_retrain).lower() in ("true", "1", "yes"):
            self.log.info("force_retrain is set: training regardless of the fingerprint")
            return self.train_task_id
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        for ref in registry.find_by_fingerprint(spec.name, fingerprint["fingerprint"]):
            if ref.tags.get("dry_run") == "true":
                continue  # a dry run's version was never a candidate: it must not stand in for a real training
            usable, why = registry.has_model_files(ref)
            if usable:
                self.log.info(
                    "SKIP TRAINING: version %s of %s was trained from the same data (md5 %s), config, code and libraries, "
                    "and its model files are in place (%s). Set force_retrain to train anyway.", ref.version, spec.name, self.data_md5, why,
                )
                context["ti"].xcom_push(key="skip_reason", value=f"identical to version {ref.version}")
                return self.skip_to_task_id
            self.log.warning("Version %s has this fingerprint but its model files are not usable (%s); training again", ref.version, why)
        self.log.info("No usable version with this fingerprint: training")
        return self.train_task_id
