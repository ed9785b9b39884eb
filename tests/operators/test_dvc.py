"""DVC versioning against a real repository and a real (folder) remote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from include.errors import VersioningError
from include.versioning import DvcWorkspace


@pytest.fixture
def workspace(tmp_path) -> DvcWorkspace:
    return DvcWorkspace(tmp_path / "dvc", str(tmp_path / "remote"))


def test_track_pushes_to_the_remote_and_fetches_back_by_md5(workspace, tmp_path):
    path = workspace.snapshot_path("m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"a,b\n1,2\n")
    version = workspace.track(path)

    assert (tmp_path / "remote" / "files" / "md5" / version.md5[:2] / version.md5[2:]).exists()
    shutil.rmtree(workspace.root / ".dvc" / "cache")
    path.unlink()
    fetched = workspace.fetch(version.md5, tmp_path / "back.csv")
    assert fetched.read_bytes() == b"a,b\n1,2\n"


def test_same_bytes_same_md5_and_old_snapshots_stay_fetchable(workspace, tmp_path):
    path = workspace.snapshot_path("m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"day 1\n")
    first = workspace.track(path)
    assert workspace.track(path).md5 == first.md5
    path.write_bytes(b"day 2\n")
    second = workspace.track(path)

    assert second.md5 != first.md5
    assert workspace.fetch(first.md5, tmp_path / "old").read_bytes() == b"day 1\n"


def test_fetching_an_unknown_md5_says_so(workspace, tmp_path):
    workspace.ensure()
    with pytest.raises(VersioningError, match="0123456789abcdef0123456789abcdef"):
        workspace.fetch("0123456789abcdef0123456789abcdef", tmp_path / "x")


def test_tracking_a_missing_file_is_a_clear_error(workspace, tmp_path):
    with pytest.raises(VersioningError, match="expected a snapshot file"):
        workspace.track(tmp_path / "nope.parquet")


def test_a_second_process_waits_for_a_long_dvc_operation_instead_of_failing(workspace, tmp_path):
    """DVC alone gives up after ~3 s with 'Unable to acquire lock'; our workspace lock queues instead."""
    workspace.ensure()
    root = Path(__file__).resolve().parents[2]
    holder = (
        "import sys, time; from pathlib import Path; from dvc.repo import Repo; from include.versioning import DvcWorkspace\n"
        "ws = DvcWorkspace(Path(sys.argv[1]), sys.argv[2])\n"
        "with ws._lock, Repo(str(ws.root)) as repo, repo.lock:\n"
        "    print('holding', flush=True); time.sleep(6)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    long_operation = subprocess.Popen([sys.executable, "-c", holder, str(workspace.root), workspace.remote_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert long_operation.stdout.readline().strip() == "holding", long_operation.stderr.read()[-2000:]
    path = workspace.snapshot_path("other_model")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * 1000)
    started = time.monotonic()
    version = workspace.track(path)

    assert time.monotonic() - started > 3  # it waited for the other operation ...
    assert len(version.md5) == 32  # ... and then succeeded
    assert long_operation.wait(timeout=60) == 0


def _staged_run(workspace, tmp_path, source, end, run: str):
    """What a DAG run does: ingest into its own staging snapshot, then version it into the workspace."""
    from include.ingest import ingest_window

    staged = tmp_path / "staging" / f"{run}.parquet"
    result = ingest_window(source, tmp_path / "lake", staged, "date", end - timedelta(days=1), end, 5, previous_snapshot=workspace.snapshot_path("m"))
    return result, workspace.track(staged, model="m")


def _source(days: int):
    import pandas as pd

    first = date(2026, 3, 1)
    frame = pd.DataFrame({"date": [pd.Timestamp(first + timedelta(days=i)) for i in range(days) for _ in range(3)], "x": [float(i) for i in range(3 * days)]})
    return lambda a, b: frame[(frame.date >= pd.Timestamp(a)) & (frame.date < pd.Timestamp(b))].reset_index(drop=True)


def test_an_unchanged_window_reuses_the_versioned_snapshot_without_running_dvc(workspace, tmp_path, caplog):
    source, end = _source(10), date(2026, 3, 9)
    first, v1 = _staged_run(workspace, tmp_path, source, end, "run1")
    assert not first.reused_snapshot

    caplog.set_level("INFO", logger="include.versioning")
    again, v2 = _staged_run(workspace, tmp_path, source, end, "run2")
    assert again.reused_snapshot and again.snapshot_rows == first.snapshot_rows == 15
    assert v2 == v1 and "DVC not run" in caplog.text
    # The run's snapshot is its own name for the versioned bytes.
    assert Path(again.snapshot_path).read_bytes() == workspace.snapshot_path("m").read_bytes()

    # The next day's window differs: rebuilt and versioned by DVC.
    caplog.clear()
    nxt, v3 = _staged_run(workspace, tmp_path, source, end + timedelta(days=1), "run3")
    assert not nxt.reused_snapshot and v3.md5 != v1.md5 and "DVC not run" not in caplog.text


def test_a_snapshot_changed_behind_the_record_or_missing_from_the_remote_goes_through_dvc(workspace, tmp_path, caplog):
    source, end = _source(10), date(2026, 3, 9)
    _, v1 = _staged_run(workspace, tmp_path, source, end, "run1")

    # Someone rewrote the workspace file: its stat no longer matches the record, so it is rebuilt, not trusted.
    versioned = workspace.snapshot_path("m")
    versioned.write_bytes(versioned.read_bytes())
    again, v2 = _staged_run(workspace, tmp_path, source, end, "run2")
    assert not again.reused_snapshot and v2.md5 == v1.md5

    # The remote lost the object: DVC runs and pushes it again.
    caplog.set_level("INFO", logger="include.versioning")
    remote_object = tmp_path / "remote" / "files" / "md5" / v1.md5[:2] / v1.md5[2:]
    remote_object.unlink()
    third, v3 = _staged_run(workspace, tmp_path, source, end, "run3")
    assert third.reused_snapshot and v3.md5 == v1.md5 and "DVC not run" not in caplog.text
    assert remote_object.exists()
