"""Quarantine: bad batches are kept as evidence, never deleted, and their days left out of later windows.

A day is quarantined when its batch fails validation or its source files cannot be used.
The day's partition (if one was written) moves to ``$CT_HOME/quarantine/<model>/<run>/`` with the
evidence and a ``REASON.txt``; a marker stays in the lake so that the next days' windows leave
the day out instead of reading the bad data from the source again. Re-running that date reads
the source afresh; if it then passes, ``release`` removes the marker.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def marker_of(partition: Path) -> Path:
    return partition.with_suffix(".quarantined")


def quarantine(batch: list[Path], evidence: list[Path], destination: Path, reason: str) -> Path:
    """Move the batch partitions out of the lake into ``destination``, copy the evidence there, mark the days."""
    destination.mkdir(parents=True, exist_ok=True)
    (destination / "REASON.txt").write_text(reason + "\n")
    for file in evidence:
        if file.exists():
            target = destination / file.name
            if target.exists():  # landed files of several days are often all called part-0.csv
                target = destination / f"{file.parent.name}_{file.name}"
            shutil.copy2(file, target)
    for file in batch:
        if file.exists():
            shutil.move(file, destination / file.name)
    for file in batch:
        # A new model's first batch can be refused before its lake folder exists.
        marker_of(file).parent.mkdir(parents=True, exist_ok=True)
        marker_of(file).write_text(json.dumps({"quarantine": str(destination), "reason": reason}))
    return destination


def release(batch: list[Path]) -> None:
    """A batch day that now passes validation is no longer left out of windows."""
    for file in batch:
        marker_of(file).unlink(missing_ok=True)
