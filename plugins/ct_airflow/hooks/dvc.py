"""The DVC workspace and remote that version the training snapshots.

Connection ``dvc_default``: ``extra.workspace`` (a folder all workers share) and
``extra.remote`` (a folder or an ``s3://`` URL). Without it, ``CT_HOME`` and
``CT_DVC_REMOTE`` decide.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from ct_airflow.hooks.base import OptionalConnectionHook


class DvcHook(OptionalConnectionHook):
    default_conn_name = "dvc_default"
    conn_type = "dvc"
    hook_name = "DVC workspace"

    @cached_property
    def workspace(self):
        from include.versioning import DvcWorkspace

        settings = self.settings()
        conn = self.connection_or_none()
        extra = conn.extra_dejson if conn is not None else {}
        return DvcWorkspace(Path(extra.get("workspace", settings.dvc_workspace)), extra.get("remote", settings.dvc_remote_url))
