"""Which model version each model serves, kept in memory and on disk.

The deployed versions are written to a small JSON file (atomically) so that a
restarted server serves what it served before, without asking anyone. With several
worker processes the file is also what they agree on (``include/serving/workers.py``):
a deploy changes only its own model's entry, under a file lock, so two deploys of
different models in two workers never undo each other.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from include.ingest import write_atomically

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    name: str
    version: str
    run_id: str | None
    model: Any = field(repr=False)
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> dict:
        return {"model": self.name, "version": self.version, "run_id": self.run_id, "loaded_at": self.loaded_at}

    @cached_property
    def scorer(self):
        """How this version predicts once a request is validated (``include/serving/scorer.py``)."""
        from include.serving.scorer import Scorer

        return Scorer(self.model)


class ModelStore:
    """Models by name. A swap loads the new version fully before replacing the old one."""

    def __init__(self, loader: Callable[[str, str], ServedModel], state_file: Path):
        self._loader = loader
        self._state_file = Path(state_file)
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()

    @property
    def state_file(self) -> Path:
        return self._state_file

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    def all(self) -> dict[str, ServedModel]:
        return dict(self._models)

    def deploy(self, name: str, version: str) -> ServedModel:
        served = self._loader(name, str(version))  # may raise: the old version keeps serving
        with self._lock:
            self._models[name] = served
            self._save(name, served.version)
        log.info("now serving %s version %s", name, version)
        return served

    def adopt(self, name: str, version: str) -> ServedModel | None:
        """Load and serve what another worker deployed, without writing the file.

        Returns None (and keeps what it serves) when the file moved on while loading:
        a rollback during a slow load must not be undone by the load finishing.
        """
        served = self._loader(name, str(version))
        with self._lock:
            if self.desired().get(name) != str(version):
                return None
            self._models[name] = served
        log.info("now serving %s version %s (deployed by another worker)", name, version)
        return served

    def desired(self) -> dict[str, str]:
        """The versions ``deployed.json`` names ({} when there is none yet)."""
        try:
            return {str(k): str(v) for k, v in json.loads(self._state_file.read_text()).items()}
        except FileNotFoundError:
            return {}

    def state_signature(self) -> tuple | None:
        """A cheap fingerprint of the state file (a stat): changes whenever a deploy rewrites it."""
        try:
            st = self._state_file.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def restore(self) -> None:
        """Load what was deployed before a restart; a version that fails to load is reported, not fatal."""
        if not self._state_file.exists():
            return
        for name, version in json.loads(self._state_file.read_text()).items():
            try:
                self._models[name] = self._loader(name, version)
            except Exception:
                log.exception("could not restore %s version %s", name, version)

    def _save(self, name: str, version: str) -> None:
        import fcntl

        # Read-modify-write under a lock shared by every worker: only this model's entry changes.
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(str(self._state_file) + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            state = self.desired()
            state[name] = version
            write_atomically(self._state_file, json.dumps(dict(sorted(state.items())), indent=2).encode())
