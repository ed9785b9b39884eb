"""Several server processes serve the same versions: ``deployed.json`` is the shared truth.

With ``--workers N`` uvicorn runs N processes behind one port, and a hot deploy reaches only
one of them. That one loads the version, swaps it in and writes ``deployed.json``; every
worker watches the file (one ``stat`` every ``interval_s``), loads a changed version in a
thread while the old one keeps answering, swaps, and reports what it serves in a status
file of its own (``<pid>.json`` in a folder made fresh for each server start). The admin
call then waits until every live worker reports the new version, so the deploy task never
sees some connections answered by the old version and others by the new one.

A worker that died is skipped (its pid is gone, or a zombie); one that cannot load the
version says why in its status, and the admin call fails at once with that reason.

Two threads of one worker publish its status: the deploy request and the watcher. Each write goes
to a temporary file of its own, then replaces the status file, so a reader sees a whole old or a
whole new status, never a part; and what is written is taken under one lock, so the last status
written is never older than the last swap (a slow writer cannot put back what it read before it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from include.serving.store import ModelStore

log = logging.getLogger(__name__)

WORKER_DIR_ENV = "CT_SERVING_WORKER_DIR"  # set by ``python -m include.serving --workers N`` (N > 1)


class WorkersLag(Exception):
    """Some live worker does not serve the deployed version: the message names them.

    ``timed_out`` tells a slow worker (still loading, or stuck) from one that failed to load.
    """

    def __init__(self, message: str, timed_out: bool):
        super().__init__(message)
        self.timed_out = timed_out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a dead child its parent has not reaped yet still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class WorkerStatus:
    """This process's status file: what it serves, and which versions it could not load."""

    def __init__(self, folder: Path, pid: int | None = None):
        self.folder = Path(folder)
        self.pid = pid or os.getpid()
        self.path = self.folder / f"{self.pid}.json"

    def publish(self, models: dict[str, str], failed: dict[str, dict]) -> None:
        """Replace the status file at once; safe from several threads (each writes its own temporary file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"pid": self.pid, "models": models, "failed": failed, "updated_at": time.time()})
        # Not "<pid>.tmp": two writers sharing one name replace each other's file and one replace finds it gone.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{self.pid}.", suffix=".tmp")  # readers glob *.json only
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def withdraw(self) -> None:
        self.path.unlink(missing_ok=True)


def live_statuses(folder: Path) -> dict[int, dict]:
    """The status of every live worker; a dead worker's file is removed, never waited for."""
    statuses = {}
    for path in Path(folder).glob("*.json"):
        try:
            status = json.loads(path.read_text())
            pid = int(status["pid"])
        except (OSError, ValueError, KeyError):
            continue  # being replaced right now, or not ours
        if pid_alive(pid):
            statuses[pid] = status
        else:
            path.unlink(missing_ok=True)
    return statuses


async def wait_until_served(folder: Path, name: str, version: str, timeout_s: float, poll_s: float = 0.05) -> dict[int, str]:
    """Return {pid: version} once every live worker serves ``name`` ``version``; raise WorkersLag otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = live_statuses(folder)
        lagging = {pid: s["models"].get(name) for pid, s in statuses.items() if s["models"].get(name) != version}
        failed = {pid: s["failed"][name]["error"] for pid, s in statuses.items() if s.get("failed", {}).get(name, {}).get("version") == version}
        if failed:
            raise WorkersLag(f"{name} version {version}: worker(s) could not load it: " + "; ".join(f"pid {pid}: {error}" for pid, error in sorted(failed.items())), timed_out=False)
        if not lagging:
            return {pid: version for pid in statuses}
        if time.monotonic() >= deadline:
            raise WorkersLag(
                f"{name} version {version}: after {timeout_s:g} s (CT_SERVING_WORKER_SYNC_TIMEOUT_S), "
                f"{len(lagging)} of {len(statuses)} workers still serve another version: "
                + ", ".join(f"pid {pid} serves {served or 'nothing'}" for pid, served in sorted(lagging.items())),
                timed_out=True,
            )
        await asyncio.sleep(poll_s)


class DeployedFileWatcher:
    """Keeps this worker's store equal to ``deployed.json`` and publishes what it serves."""

    def __init__(self, store: ModelStore, status: WorkerStatus, interval_s: float = 0.2, on_swap=None):
        self.store = store
        self.status = status
        self.interval_s = interval_s
        self.on_swap = on_swap or (lambda served: None)
        self.failed: dict[str, dict] = {}  # name -> {"version", "error"}: not retried until the file changes
        self._seen = None
        self._synced_at = 0.0
        self._publishing = threading.Lock()

    def publish(self) -> None:
        """Report what this worker serves now; the deploy request and the watcher's thread both call it."""
        with self._publishing:  # read and write as one step: an older reading is never written after a newer one
            self.status.publish({n: s.version for n, s in self.store.all().items()}, self.failed)

    def sync(self) -> None:
        """Load and swap every version that differs from the file (runs in a thread)."""
        desired = self.store.desired()
        self.failed = {n: f for n, f in self.failed.items() if desired.get(n) == f["version"]}
        for name, version in sorted(desired.items()):
            current = self.store.get(name)
            if (current is not None and current.version == version) or self.failed.get(name, {}).get("version") == version:
                continue
            try:
                served = self.store.adopt(name, version)
            except Exception as exc:
                log.exception("worker %s could not load %s version %s", self.status.pid, name, version)
                self.failed[name] = {"version": version, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                continue
            if served is not None:
                self.on_swap(served)
        self.publish()

    async def run(self) -> None:
        while True:
            try:
                seen = self.store.state_signature()
                # A full check now and then as well: a stat can miss a change (an inode reused within one mtime tick).
                if seen != self._seen or time.monotonic() - self._synced_at > 5:
                    self._seen, self._synced_at = seen, time.monotonic()
                    await asyncio.to_thread(self.sync)
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive a bad read; the next change retries
                log.exception("worker %s: could not follow %s", self.status.pid, self.store.state_file)
            await asyncio.sleep(self.interval_s)
