"""Operator tests run each operator's execute() against the real thing in a temp CT_HOME:
a DVC repo and remote, a SQLite MLflow store, a GX ephemeral context, the model server."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, date
from types import SimpleNamespace

import pytest

from include.settings import MODELS_DIR

PENGUINS = str(MODELS_DIR / "penguin_species.yaml")
SEATTLE = str(MODELS_DIR / "seattle_temp_max.yaml")
# With the demo history ending 2026-12-31, this window holds all three nesting seasons.
INTERVAL = (date(2026, 12, 1), date(2026, 12, 2))


class FakeTaskInstance:
    """What the operators use of the Task SDK's task instance; ``paused`` answers ``get_dag`` (every DAG unpaused by default)."""

    def __init__(self, paused: dict[str, bool] | None = None):
        self.xcom = {}
        self.paused = paused or {}

    def xcom_push(self, key, value):
        self.xcom[key] = value

    def get_dag(self, dag_id: str):
        return SimpleNamespace(dag_id=dag_id, is_paused=self.paused.get(dag_id, False))


def dag_run(dag_id: str, run_id: str, interval: tuple[date, date] = INTERVAL, run_type: str = "scheduled"):
    """Airflow's own task-context DagRun of a scheduled (or backfill) run over the days ``interval``."""
    from datetime import datetime, time

    from airflow.sdk.api.datamodels._generated import DagRun

    start, end = (datetime.combine(d, time(), tzinfo=UTC) for d in interval)
    return DagRun(
        dag_id=dag_id, run_id=run_id, logical_date=start, data_interval_start=start, data_interval_end=end, run_after=end,
        start_date=end, end_date=None, run_type=run_type, state="running", consumed_asset_events=[], partition_key=None,
    )


def task_context(
    dag_id: str = "penguin_species", run_id: str = "test_run", interval: tuple[date, date] = INTERVAL, paused: dict[str, bool] | None = None,
) -> dict:
    """The context of a task of a scheduled run that owns the days ``interval`` (the rule reads ``dag_run``);
    ``paused`` is what the task instance answers about DAGs' pause state."""
    return {"run_id": run_id, "dag": SimpleNamespace(dag_id=dag_id), "ti": FakeTaskInstance(paused), "dag_run": dag_run(dag_id, run_id, interval), "params": {}}


@pytest.fixture
def penguin_source(settings, demo_sources):
    """A private copy of the demo sources in this test's CT_HOME (tests may damage it)."""
    shutil.copytree(demo_sources, settings.sources_dir)
    return sqlite3.connect(settings.sources_dir / "penguins.db")


@pytest.fixture
def penguin_snapshot(settings, penguin_source):
    """Ingest the penguins window and version it with DVC; returns (ingest result, snapshot version)."""
    from ct_airflow.hooks.dvc import DvcHook

    from include import sources
    from include.ingest import ingest_window
    from include.spec import load_spec

    spec = load_spec(PENGUINS)
    workspace = DvcHook().workspace
    result = ingest_window(
        lambda a, b: sources.read_sql(penguin_source, spec.source.query, spec.source.date_column, a, b, "test"),
        settings.lake_dir / spec.name, workspace.snapshot_path(spec.name), spec.source.date_column, *INTERVAL, spec.window_days,
    )
    return result, workspace.track(result.snapshot_path)
