"""Which model version each model serves, kept in memory and on disk.

The deployed versions are written to a small JSON file (atomically) so that a
restarted server serves what it served before, without asking anyone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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


class ModelStore:
    """Models by name. A swap loads the new version fully before replacing the old one."""

    def __init__(self, loader: Callable[[str, str], ServedModel], state_file: Path):
        self._loader = loader
        self._state_file = Path(state_file)
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    def all(self) -> dict[str, ServedModel]:
        return dict(self._models)

    def deploy(self, name: str, version: str) -> ServedModel:
        served = self._loader(name, str(version))  # may raise: the old version keeps serving
        with self._lock:
            self._models[name] = served
            self._save()
        log.info("now serving %s version %s", name, version)
        return served

    def restore(self) -> None:
        """Load what was deployed before a restart; a version that fails to load is reported, not fatal."""
        if not self._state_file.exists():
            return
        for name, version in json.loads(self._state_file.read_text()).items():
            try:
                self._models[name] = self._loader(name, version)
            except Exception:
                log.exception("could not restore %s version %s", name, version)

    def _save(self) -> None:
        state = {name: served.version for name, served in sorted(self._models.items())}
        write_atomically(self._state_file, json.dumps(state, indent=2).encode())
