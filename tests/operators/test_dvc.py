"""DVC versioning against a real repository and a real (folder) remote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
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
