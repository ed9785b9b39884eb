"""Make the deploy target serve the champion; health and smoke checks; roll back on failure."""

from __future__ import annotations

from datetime import UTC

from airflow.sdk import BaseOperator

from ct_airflow.common import is_set, model_spec
from ct_airflow.hooks.docker import DockerEngineHook
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.hooks.model_server import ModelServerHook
from ct_airflow.links import DriftReportLink, ServedEndpointLink
from ct_airflow.pools import MODEL_SERVING_POOL


class DeployModelOperator(BaseOperator):
    """Serve the current ``champion``. Idempotent: if it is already served, only checks it.

    Runs after a promotion and after a skipped training alike, so every
    successful run leaves the champion serving.
    """

    template_fields = ("spec_path", "skip_deploy", "dry_run")
    ui_color = "#2a9d8f"
    operator_extra_links = (ServedEndpointLink(), DriftReportLink())
    ui_fgcolor = "#ffffff"

    def __init__(
        self, *, spec_path: str, skip_deploy="{{ params.skip_deploy }}", dry_run="{{ params.dry_run }}",
        mlflow_conn_id: str = MlflowRegistryHook.default_conn_name, server_conn_id: str = ModelServerHook.default_conn_name,
        docker_conn_id: str = DockerEngineHook.default_conn_name, **kwargs,
    ):
        kwargs.setdefault("pool", MODEL_SERVING_POOL)
        super().__init__(**kwargs)
        self.spec_path = spec_path
        self.skip_deploy = skip_deploy
        self.dry_run = dry_run
        self.mlflow_conn_id = mlflow_conn_id
        self.server_conn_id = server_conn_id
        self.docker_conn_id = docker_conn_id

    def target_for(self, spec, registry):
        """The spec's ``deploy.target``: the local model server or a container per version."""
        if spec.deploy.target == "docker":
            return DockerEngineHook(self.docker_conn_id).target(registry, spec.deploy.keep_images, spec.deploy.health_timeout_s)
        return ModelServerHook(self.server_conn_id).target

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        from include.deploy import deployed_tags, failed_tags, replaced_tags, smoke_request
        from include.registry import CHAMPION, serving_example

        spec = model_spec(self.spec_path)
        if is_set(self.skip_deploy) or is_set(self.dry_run):
            raise AirflowSkipException(f"{'dry_run' if is_set(self.dry_run) else 'skip_deploy'} is set: the model server of {spec.name} is left as it is")
        registry = MlflowRegistryHook(self.mlflow_conn_id).registry
        champion = registry.by_alias(spec.name, CHAMPION)
        if champion is None:
            raise AirflowSkipException(f"{spec.name} has no champion yet: nothing to deploy")
        from datetime import datetime

        from include.errors import DeployError

        target = self.target_for(spec, registry)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            try:
                example = smoke_request(serving_example(registry, champion))
            except Exception as exc:  # artifacts missing or unreadable: this version cannot be served
                raise DeployError(f"cannot read the smoke-test example of {spec.name} version {champion.version}: {exc}") from exc
            result = target.deploy(spec.name, champion.version, example)
        except DeployError as exc:
            # The champion alias stays (the failure may be transient; the task retries), but the
            # version records that it is not serving, and make status shows champion != served.
            self._record(registry, spec.name, champion.version, failed_tags(exc, now))
            raise
        self._record(registry, spec.name, champion.version, deployed_tags(result, champion.tags, now))
        if result.action == "deployed" and result.previous_version not in (None, result.version):
            try:
                self._record(registry, spec.name, result.previous_version, replaced_tags(result, now))
            except Exception:  # the new version serves; a stale tag on the old one must not fail the deploy
                self.log.warning("Could not tag %s version %s as replaced", spec.name, result.previous_version, exc_info=True)
        self.log.info("%s version %s: %s at %s in %.2f s (before: %s)", spec.name, result.version, result.action, result.endpoint, result.seconds, result.previous_version)
        return result.to_dict()

    def _record(self, registry, model: str, version: str, tags) -> None:
        if tags.set:
            registry.tag_version(model, version, tags.set)
            self.log.info("%s version %s: deploy tags %s", model, version, {k: v for k, v in tags.set.items() if k != "deploy_error"})
        if tags.remove:
            registry.untag_version(model, version, tags.remove)
