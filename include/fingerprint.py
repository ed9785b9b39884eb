"""The training fingerprint: everything that decides what a trained model would be.

Two runs with the same fingerprint would train the same model, so the second one
is skipped. It covers the data (DVC md5 of the snapshot), the training config from
the spec, the source of the code that trains, and the versions of the libraries
that do the numerical work. It deliberately leaves out what does not change the
model (owner, thresholds, schedule, deploy target).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

_CORE = Path(__file__).resolve().parent
# The modules whose code shapes the fitted model.
TRAINING_CODE = (_CORE / "preprocessing.py", _CORE / "training.py")
TRAINING_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas")


def code_digest(files=TRAINING_CODE) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def library_versions(names=TRAINING_LIBRARIES) -> dict[str, str]:
    return {name: metadata.version(name) for name in names}


def compute_fingerprint(data_md5: str, training_config: dict, code: str | None = None, libraries: dict | None = None) -> dict:
    """Return the fingerprint and the parts it was made of (logged for traceability)."""
    parts = {
        "data_md5": data_md5,
        "training_config": training_config,
        "code_sha256": code or code_digest(),
        "libraries": libraries or library_versions(),
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return {"fingerprint": hashlib.sha256(canonical.encode()).hexdigest(), "parts": parts}
