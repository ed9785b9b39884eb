"""Worker status files and the deploy wait: what is waited for, what is skipped, what the errors say."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from include.serving.store import ModelStore, ServedModel
from include.serving.workers import DeployedFileWatcher, WorkersLag, WorkerStatus, live_statuses, pid_alive, wait_until_served


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_dead_workers_status_is_removed_not_waited_for(tmp_path):
    WorkerStatus(tmp_path).publish({"m": "2"}, {})
    gone = dead_pid()
    WorkerStatus(tmp_path, pid=gone).publish({"m": "1"}, {})
    assert not pid_alive(gone)
    assert set(live_statuses(tmp_path)) == {WorkerStatus(tmp_path).pid}
    assert not (tmp_path / f"{gone}.json").exists()
    assert asyncio.run(wait_until_served(tmp_path, "m", "2", timeout_s=1)) == {WorkerStatus(tmp_path).pid: "2"}


def test_a_lagging_worker_times_out_by_name(tmp_path):
    WorkerStatus(tmp_path).publish({"m": "1"}, {})
    with pytest.raises(WorkersLag, match=r"1 of 1 workers still serve another version: pid \d+ serves 1") as lag:
        asyncio.run(wait_until_served(tmp_path, "m", "2", timeout_s=0.2))
    assert lag.value.timed_out


def test_a_worker_that_cannot_load_fails_the_wait_at_once(tmp_path):
    WorkerStatus(tmp_path).publish({"m": "1"}, {"m": {"version": "2", "error": "OSError: disk full"}})
    with pytest.raises(WorkersLag, match="could not load it: pid .*: OSError: disk full") as lag:
        asyncio.run(wait_until_served(tmp_path, "m", "2", timeout_s=30))
    assert not lag.value.timed_out


def loader(name, version):
    if version == "bad":
        raise OSError("cannot read the model")
    return ServedModel(name, version, None, object())


def test_the_watcher_follows_the_file_and_reports(tmp_path):
    state = tmp_path / "deployed.json"
    mine, theirs = ModelStore(loader, state), ModelStore(loader, state)
    watcher = DeployedFileWatcher(theirs, WorkerStatus(tmp_path / "status"))
    mine.deploy("a", "1")
    mine.deploy("b", "7")
    theirs_deploy = ModelStore(loader, state)
    theirs_deploy.deploy("a", "2")  # another worker: only its model's entry changes
    assert json.loads(state.read_text()) == {"a": "2", "b": "7"}
    watcher.sync()
    assert {n: s.version for n, s in theirs.all().items()} == {"a": "2", "b": "7"}
    state.write_text(json.dumps({"a": "bad", "b": "7"}))  # a version this worker cannot load
    watcher.sync()
    status = json.loads(watcher.status.path.read_text())
    assert status["models"] == {"a": "2", "b": "7"} and status["failed"]["a"]["version"] == "bad"
    state.write_text(json.dumps({"a": "2", "b": "7"}))  # the rollback clears the failure
    watcher.sync()
    assert json.loads(watcher.status.path.read_text())["failed"] == {}


def test_a_load_overtaken_by_a_rollback_is_not_swapped_in(tmp_path):
    state = tmp_path / "deployed.json"
    store = ModelStore(loader, state)
    store.deploy("a", "1")
    slow = ModelStore(lambda n, v: (state.write_text(json.dumps({"a": "1"})), ServedModel(n, v, None, object()))[1], state)
    state.write_text(json.dumps({"a": "2"}))
    assert slow.adopt("a", "2") is None and slow.get("a") is None


def test_deploys_answer_200_while_the_watcher_publishes(tmp_path):
    """The issue's 500 in ~1 of 25 deploys: the deploy request and the watcher's thread both wrote
    ``<pid>.tmp``, and one ``os.replace`` found it gone. Here the watcher's sync runs without pause
    in its own thread (as ``asyncio.to_thread`` runs it) while the app takes deploy after deploy."""
    from fastapi.testclient import TestClient

    from include.serving.app import create_app
    from include.serving.config import ServingConfig

    store = ModelStore(loader, tmp_path / "deployed.json")
    watcher = DeployedFileWatcher(store, WorkerStatus(tmp_path / "status"))
    app = create_app(store, ServingConfig(admin_token="admin", worker_sync_timeout_s=5), watcher=watcher)
    stop, watcher_errors = threading.Event(), []

    def watcher_syncing():
        while not stop.is_set():
            try:
                watcher.sync()
            except Exception as exc:  # noqa: BLE001 - the watcher's own writes must not fail either; collected, then asserted
                watcher_errors.append(repr(exc))

    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        syncing = threading.Thread(target=watcher_syncing)
        syncing.start()
        try:
            for deploy in range(300):
                answer = client.post("/admin/models/m/deploy", json={"version": str(deploy % 3 + 1)}, headers={"Authorization": "Bearer admin"})
                answers.append((answer.status_code, answer.text[:200]))
        finally:
            stop.set()
            syncing.join()
        last_word = json.loads(watcher.status.path.read_text())["models"]  # withdrawn when the app stops
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} deploys failed, first: {failed[0]}"
    assert not watcher_errors, f"the watcher failed {len(watcher_errors)} times, first: {watcher_errors[0]}"
    assert last_word == {"m": str(299 % 3 + 1)}, "the status must end on the last deploy, not on an older reading"
