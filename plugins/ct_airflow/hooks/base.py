"""What our hooks share: an optional Airflow connection with a fallback to the environment."""

from __future__ import annotations

from airflow.sdk import BaseHook


class OptionalConnectionHook(BaseHook):
    """A hook whose connection may be absent: then ``include.settings`` (env vars) decides.

    The embedded default needs no connection at all; the production stack defines
    one (e.g. ``AIRFLOW_CONN_MLFLOW_DEFAULT``) to point the same DAGs elsewhere.
    """

    conn_name_attr = "conn_id"

    def __init__(self, conn_id: str | None = None):
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name

    def connection_or_none(self):
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            return None

    @staticmethod
    def settings():
        from include.settings import Settings

        return Settings.from_env()
