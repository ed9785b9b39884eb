"""Faults in what the pipeline stands on: a full disk, a full or unreachable DVC remote, an MLflow store that
is down. Each must end in an error that says what failed and where, that Airflow retries (a fault, not a
verdict), with nothing half-written left behind; and the next attempt, once the fault is gone, recovers
by itself. A full disk is a real one: a small tmpfs mounted over the folder (root only, as in CI).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.dvc import DvcVersionOperator
from ct_airflow.operators.ingest import IngestOperator

from include.errors import PlatformError, VersioningError
from tests.operators.conftest import INTERVAL, SEATTLE, task_context
from tests.support.processes import free_port

MODEL = "seattle_temp_max"


@contextlib.contextmanager
def small_disk(path, size: str):
    """A real filesystem of ``size`` mounted over ``path`` (created if missing), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("LOUD SKIP: mounting a small tmpfs to fill a disk needs root (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def ingest() -> dict:
    op = IngestOperator(task_id="ingest", spec_path=SEATTLE)
    return op.execute(task_context(dag_id=MODEL, interval=INTERVAL))


@pytest.fixture
def seattle_sources(settings, demo_sources):
    import shutil

    shutil.copytree(demo_sources, settings.sources_dir)
    return settings


def test_a_full_state_disk_fails_ingest_with_a_retried_error_and_leaves_no_partial_partition(seattle_sources):
    settings = seattle_sources
    lake = settings.lake_dir / MODEL
    with small_disk(lake, "64k"):
        with pytest.raises(PlatformError) as failure:
            ingest()
        assert not isinstance(failure.value, AirflowFailException)  # a fault: Airflow retries it
        assert "No space left on device" in str(failure.value) and str(lake) in str(failure.value)
        written = sorted(lake.glob("*.parquet"))
        assert written, "the disk filled up part-way: some partitions were written"
        assert all(len(pd.read_parquet(p)) == 1 for p in written)  # each complete, none torn
        assert not list(lake.glob(".*.tmp"))  # no temp file left to fill the disk further

    result = ingest()  # space is back: the retry completes the window

    assert result["snapshot_rows"] == 365 and len(list(lake.glob("*.parquet"))) == 365


def test_a_full_dvc_remote_fails_versioning_and_the_retry_pushes_the_same_snapshot(seattle_sources):
    settings = seattle_sources
    snapshot = ingest()["snapshot_path"]
    version = DvcVersionOperator(task_id="version_snapshot", snapshot_path=snapshot)

    full_remote = pytest.raises(VersioningError, match=r"DVC could not track and push .* No space left on device|DVC could not track and push .*(ENOSPC|space)")
    with small_disk(Path(settings.dvc_remote_url), "4k"), full_remote:
        version.execute(task_context(dag_id=MODEL))

    pushed = version.execute(task_context(dag_id=MODEL))
    fetched = settings.home / "fetched.parquet"
    from ct_airflow.hooks.dvc import DvcHook

    DvcHook().workspace.fetch(pushed["md5"], fetched)
    assert pd.read_parquet(fetched).equals(pd.read_parquet(snapshot))


def test_an_unreachable_dvc_remote_is_a_versioning_error_naming_the_remote(seattle_sources, monkeypatch, tmp_path):
    snapshot = ingest()["snapshot_path"]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the remote's mount point should be")
    monkeypatch.setenv("CT_DVC_REMOTE", str(blocker / "remote"))

    with pytest.raises(VersioningError) as failure:
        DvcVersionOperator(task_id="version_snapshot", snapshot_path=snapshot).execute(task_context(dag_id=MODEL))
    assert str(blocker / "remote") in str(failure.value)


def test_an_unreachable_mlflow_store_fails_the_registry_call_and_changes_nothing(monkeypatch, settings):
    """MLflow down: the registry hook's call fails with a retried error; the real store is untouched."""
    registry = MlflowRegistryHook().registry
    registry.ensure_registered_model(MODEL, "faults", {})
    before = registry.client.search_model_versions(f"name = '{MODEL}'")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    down = MlflowRegistryHook().registry
    with pytest.raises(Exception) as failure:
        down.by_alias(MODEL, "champion")
    assert not isinstance(failure.value, AirflowFailException)
    assert "127.0.0.1" in str(failure.value) or "Connection refused" in str(failure.value)

    monkeypatch.undo()
    assert registry.client.search_model_versions(f"name = '{MODEL}'") == before
