"""The local model server (deploy target ``local``).

Connection ``model_server_default``: ``host`` is the base URL, ``password`` the
admin token. Without it, ``CT_SERVING_URL`` and ``CT_SERVING_ADMIN_TOKEN`` decide.
"""

from __future__ import annotations

import os
from functools import cached_property

from ct_airflow.hooks.base import OptionalConnectionHook


class ModelServerHook(OptionalConnectionHook):
    default_conn_name = "model_server_default"
    conn_type = "http"
    hook_name = "Model server"

    @cached_property
    def target(self):
        from include.deploy import LocalServerTarget

        token = os.environ.get("CT_SERVING_ADMIN_TOKEN") or None
        conn = self.connection_or_none()
        if conn is not None and conn.host:
            url = conn.host if "://" in conn.host else f"http://{conn.host}:{conn.port or 5001}"
            return LocalServerTarget(url, conn.password or token)
        return LocalServerTarget(self.settings().serving_url, token)
