"""MLflow tracking store and model registry, through our own hook.

The MLflow Airflow provider is discontinued and only knows the deprecated
stages; we use MLflow's client directly with registry aliases.
Connection ``mlflow_default``: ``host`` is the tracking URI (``http://mlflow:5000``
or ``postgresql://...``), ``extra.artifact_root`` where new experiments store
artifacts. Without the connection, ``MLFLOW_TRACKING_URI`` / ``CT_HOME`` decide.
"""

from __future__ import annotations

from functools import cached_property

from ct_airflow.hooks.base import OptionalConnectionHook


class MlflowRegistryHook(OptionalConnectionHook):
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow registry"

    @cached_property
    def registry(self):
        from include.registry import Registry

        conn = self.connection_or_none()
        if conn is not None and conn.host:
            uri = conn.host if "://" in conn.host else conn.get_uri()
            return Registry(uri, conn.extra_dejson.get("artifact_root"))
        settings = self.settings()
        return Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
