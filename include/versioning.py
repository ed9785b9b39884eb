"""Snapshot versioning with DVC's Python API (no git: ``no_scm``).

Every training snapshot is ``dvc add``-ed and pushed to the remote; its md5 is
the data identity that the fingerprint, the MLflow run and the registered model
version all carry. Any snapshot can be fetched back from the remote by md5
(``python -m include.lineage fetch-snapshot``).

DVC holds a repository lock and gives up after ~3 s ("Unable to acquire lock").
Concurrent runs (a nightly run next to a backfill, two models) therefore queue
on our own file lock around every DVC operation instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from include.errors import VersioningError

REMOTE_NAME = "store"
log = logging.getLogger(__name__)
LOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class SnapshotVersion:
    md5: str
    size: int
    path: str
    remote: str

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _dvc_errors():
    """DVC logs why an upload failed (disk full, permission) and raises only "N files failed to upload":
    collect the logged causes so the error a user reads says what went wrong."""
    causes: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            cause = record.exc_info[1] if record.exc_info else None
            causes.append(f"{type(cause).__name__}: {cause}" if cause else record.getMessage())

    handler = Collect(level=logging.ERROR)
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield causes
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


class DvcWorkspace:
    """A DVC repository whose files are the latest snapshot of each model."""

    def __init__(self, root: Path, remote_url: str):
        self.root = Path(root)
        self.remote_url = remote_url
        self._lock = FileLock(str(self.root.parent / f".{self.root.name}.lock"), timeout=LOCK_TIMEOUT_S)

    def snapshot_path(self, model: str) -> Path:
        return self.root / "snapshots" / model / "snapshot.parquet"

    def ensure(self) -> None:
        """Create the repository and point its default remote at ``remote_url`` (idempotent)."""
        from dvc.repo import Repo

        self.root.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if not (self.root / ".dvc").is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                Repo.init(str(self.root), no_scm=True).close()
            with Repo(str(self.root)) as repo:
                if repo.config["remote"].get(REMOTE_NAME, {}).get("url") != self.remote_url:
                    with repo.config.edit() as config:
                        config["remote"][REMOTE_NAME] = {"url": self.remote_url}
                        config["core"]["remote"] = REMOTE_NAME
                        config["core"]["analytics"] = False
                        # DVC's default index/state cache lives in /var/tmp; keep it with the repo.
                        config["core"]["site_cache_dir"] = str(self.root / ".dvc" / "site_cache")
            if "://" not in self.remote_url:
                try:
                    Path(self.remote_url).mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise VersioningError(f"the DVC remote {self.remote_url} cannot be reached or created: {exc.strerror} (errno {exc.errno})") from exc

    def track(self, path: Path, model: str | None = None) -> SnapshotVersion:
        """``dvc add`` + ``dvc push`` one file; returns its md5 (identical bytes: no-op).

        With ``model``, ``path`` is a run's staging snapshot: it is copied to the model's file in
        the workspace under the lock, so two runs of one model never version each other's bytes.
        When the staging snapshot was built from the same window as the model's versioned file
        (their window records match, see ``include.ingest``) and the remote holds that md5, the
        recorded version is returned without running DVC: a night with no new data costs a few
        ``stat`` calls here, not a hash of the whole snapshot.
        """
        source = Path(path)
        if not source.is_file():
            raise VersioningError(f"cannot version {source}: expected a snapshot file there, found none")
        if model:
            unchanged = self.unchanged_version(source, model)
            if unchanged is not None:
                return unchanged
        from dvc.repo import Repo

        from include.ingest import file_stat, read_window_record, window_record_path, write_window_record

        self.ensure()
        path = self.snapshot_path(model) if model else source
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise VersioningError(f"cannot version {source}: expected a file inside the DVC workspace {self.root}, or the model it is a snapshot of")
        staged_record = read_window_record(source)
        try:
            with self._lock, Repo(str(self.root)) as repo, _dvc_errors() as causes:
                if path != source:
                    # The record goes first and comes back last: it never describes bytes it was not made for.
                    window_record_path(path).unlink(missing_ok=True)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(f".{path.name}.tmp")
                    shutil.copyfile(source, tmp)
                    os.replace(tmp, path)
                (stage,) = repo.add(str(path))
                out = stage.outs[0]
                repo.push()
                version = SnapshotVersion(out.hash_info.value, int(out.meta.size), str(path), self.remote_url)
                if path != source and staged_record is not None:
                    write_window_record(path, {**staged_record, "md5": version.md5, "size": version.size, "stat": file_stat(path)})
                return version
        except VersioningError:
            raise
        except Exception as exc:
            why = f" ({'; '.join(causes)})" if causes else ""
            raise VersioningError(f"DVC could not track and push {path} to {self.remote_url}: {exc}{why}") from exc

    def unchanged_version(self, staged: Path, model: str) -> SnapshotVersion | None:
        """The model's versioned snapshot when ``staged`` has the same window and the remote has it; else None."""
        from include.ingest import file_stat, read_window_record

        current = self.snapshot_path(model)
        staged_record, record = read_window_record(staged), read_window_record(current)
        if staged_record is None or record is None or staged_record["window"] != record["window"]:
            return None
        try:
            if file_stat(current) != record.get("stat") or not self.remote_has(record["md5"], record["size"]):
                return None
        except (OSError, KeyError):
            return None
        log.info("%s: same window as the versioned snapshot (md5 %s, already in the remote): DVC not run", model, record["md5"])
        return SnapshotVersion(record["md5"], int(record["size"]), str(current), self.remote_url)

    def remote_has(self, md5: str, size: int) -> bool:
        """Whether the remote holds this object; only a folder remote is checked without DVC (others: False)."""
        if "://" in self.remote_url:
            return False  # an object store: let DVC's push find out
        obj = Path(self.remote_url) / "files" / "md5" / md5[:2] / md5[2:]
        try:
            return obj.stat().st_size == size
        except OSError:
            return False

    def fetch(self, md5: str, destination: Path) -> Path:
        """Fetch a snapshot back from the remote by md5 into ``destination`` (verified)."""
        import hashlib

        from dvc.repo import Repo
        from dvc_data.hashfile.hash_info import HashInfo

        self.ensure()
        with self._lock, Repo(str(self.root)) as repo:
            try:
                repo.cloud.pull([HashInfo("md5", md5)])
            except Exception as exc:
                raise VersioningError(f"DVC could not fetch snapshot {md5} from {self.remote_url}: {exc}") from exc
            cached = repo.cache.local.oid_to_path(md5)
        if not os.path.exists(cached):
            raise VersioningError(f"snapshot {md5} is in neither the local cache nor the remote {self.remote_url}")
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.tmp")
        shutil.copyfile(cached, tmp)
        tmp.chmod(0o644)
        with open(tmp, "rb") as handle:
            actual = hashlib.file_digest(handle, "md5").hexdigest()
        if actual != md5:
            tmp.unlink()
            raise VersioningError(f"snapshot fetched for {md5} has md5 {actual}: the remote copy is corrupt")
        os.replace(tmp, destination)
        return destination
