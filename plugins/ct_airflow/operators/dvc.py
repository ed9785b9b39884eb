"""Version the training snapshot with DVC: add, push, record its md5."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseOperator

from ct_airflow.hooks.dvc import DvcHook
from ct_airflow.pools import DVC_WORKSPACE_POOL


class DvcVersionOperator(BaseOperator):
    """``dvc add`` + ``dvc push`` the snapshot; returns ``md5``, ``size``, ``path``, ``remote``."""

    template_fields = ("snapshot_path", "model")
    ui_color = "#945dd6"
    ui_fgcolor = "#ffffff"

    # model: whose workspace file the run's staging snapshot becomes (default: the dag_id, one DAG per model).
    def __init__(self, *, snapshot_path: str, model: str | None = None, dvc_conn_id: str = DvcHook.default_conn_name, **kwargs):
        # One DVC operation at a time per workspace, across every worker: DVC's repo lock.
        kwargs.setdefault("pool", DVC_WORKSPACE_POOL)
        super().__init__(multiple_outputs=True, **kwargs)
        self.snapshot_path = snapshot_path
        self.model = model
        self.dvc_conn_id = dvc_conn_id

    def execute(self, context):
        version = DvcHook(self.dvc_conn_id).workspace.track(Path(self.snapshot_path), model=self.model or context["dag"].dag_id)
        self.log.info("Snapshot %s is DVC md5 %s (%d bytes), pushed to %s", version.path, version.md5, version.size, version.remote)
        self.log.info("Fetch it back any time with: python -m include.lineage fetch-snapshot --md5 %s --out snapshot.parquet", version.md5)
        return version.to_dict()
