"""The platform's Airflow plugin: extra links on the model DAG's tasks, the reports app, and the API server's
refusal of runs triggered for the future (``ct_airflow.future_runs``)."""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from ct_airflow.future_runs import RefuseFutureLogicalDates
from ct_airflow.links import ALL_LINKS, REPORTS_PREFIX


def _fastapi_apps() -> list[dict]:
    try:
        from ct_airflow.reports_app import create_app
    except ImportError:  # workers without the API server's packages need no web app
        return []
    return [{"app": create_app(), "url_prefix": REPORTS_PREFIX, "name": "CT platform reports"}]


class CtPlatformPlugin(AirflowPlugin):
    name = "ct_platform"
    operator_extra_links: ClassVar[list] = [link() for link in ALL_LINKS]
    fastapi_apps = _fastapi_apps()
    fastapi_root_middlewares: ClassVar[list] = [{"middleware": RefuseFutureLogicalDates, "args": [], "kwargs": {}, "name": "Refuse runs triggered for the future"}]
