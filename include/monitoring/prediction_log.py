"""Every served prediction, appended to hourly JSON-lines files off the request path.

Layout (one folder per model, one file per UTC hour, append-only)::

    <root>/<model>/date=YYYY-MM-DD/hour=HH.jsonl
    {"request_id": "...", "row": 0, "ts": 1764451200.12, "model": "...", "version": "3",
     "features": {"temp_min": 8.0, ...}, "prediction": 14.2}

Every server process has its own writer; they share the files safely because each batch is
appended with a single ``write`` on an ``O_APPEND`` descriptor.
The request thread only puts a record on a bounded queue (microseconds); one writer
thread appends batches and flushes them. When the writer falls behind and the queue is
full, records are dropped and counted (``on_drop``) rather than slowing the answer: the
log is for monitoring, serving comes first. Outcomes use the same layout under their own
root (``record_outcomes``), so the monitoring DAG reads both with ``read_records``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

_STOP = object()


def partition_file(root: Path, model: str, ts: float) -> Path:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return Path(root) / model / f"date={moment:%Y-%m-%d}" / f"hour={moment:%H}.jsonl"


def append_records(root: Path, model: str, records: Iterable[dict]) -> int:
    """Append records to their hourly files (grouped by the hour of each record's ``ts``)."""
    # Grouped by UTC hour first: building the file's path per record cost more than the JSON.
    by_hour: dict[int, list[str]] = defaultdict(list)
    first_ts: dict[int, float] = {}
    for record in records:
        hour = int(record["ts"] // 3600)
        first_ts.setdefault(hour, record["ts"])
        by_hour[hour].append(json.dumps(record, default=_jsonable, separators=(",", ":")))
    for hour, lines in by_hour.items():
        path = partition_file(root, model, first_ts[hour])
        path.parent.mkdir(parents=True, exist_ok=True)
        # Several server processes append to the same hourly file: one write(2) per batch on an
        # O_APPEND descriptor lands whole at the end of the file, never interleaved with another's.
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, payload)
            while written < len(payload):  # only on a full disk or a signal; the rest follows at once
                written += os.write(fd, payload[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
    return sum(len(lines) for lines in by_hour.values())


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class PredictionLog:
    """A bounded queue and one daemon writer thread; ``close()`` drains what is queued."""

    def __init__(self, root: Path, max_queue: int = 10_000, on_write: Callable[[str, int], None] | None = None, on_drop: Callable[[str, int], None] | None = None):
        self.root = Path(root)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._on_write = on_write or (lambda model, n: None)
        self._on_drop = on_drop or (lambda model, n: None)
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    def record(self, model: str, version: str, request_id: str, features: list[dict], predictions: list) -> None:
        """Queue one request's rows (never blocks; drops and counts when the queue is full)."""
        try:
            self._queue.put_nowait((model, version, request_id, time.time(), features, predictions))
        except queue.Full:
            self._on_drop(model, len(features))

    def close(self, timeout_s: float = 10.0) -> None:
        # A bounded wait: a full queue must not keep a stopping server alive forever.
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            log.warning("prediction log: queue still full after %s s at shutdown; some records are lost", timeout_s)
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            self._write([item for item in batch if item is not _STOP])
            if stop:
                return

    def _write(self, batch: list) -> None:
        by_model: dict[str, list[dict]] = defaultdict(list)
        for model, version, request_id, ts, features, predictions in batch:
            for row, (values, prediction) in enumerate(zip(features, predictions)):
                by_model[model].append({"request_id": request_id, "row": row, "ts": ts, "model": model, "version": version, "features": values, "prediction": prediction})
        for model, records in by_model.items():
            try:
                self._on_write(model, append_records(self.root, model, records))
            except OSError:
                # A full or read-only disk must not take serving down: say it, count it, go on.
                log.exception("prediction log: could not append %d records for %s under %s", len(records), model, self.root)
                self._on_drop(model, len(records))


def record_outcomes(root: Path, model: str, outcomes: list[dict], now: float | None = None) -> int:
    """Append ground truth: ``[{"request_id": ..., "row": 0, "actual": ...}]`` (``row`` defaults to 0).

    Raises ValueError naming the first bad item; nothing is written then.
    """
    now = time.time() if now is None else now
    records = []
    for i, item in enumerate(outcomes):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or not item["request_id"] or "actual" not in item:
            raise ValueError(f"outcome #{i}: expected an object with a non-empty 'request_id' string and an 'actual' value, found {str(item)[:200]!r}")
        row = item.get("row", 0)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise ValueError(f"outcome #{i}: 'row' must be a row index (integer >= 0), found {row!r}")
        records.append({"request_id": item["request_id"], "row": row, "actual": item["actual"], "ts": float(item.get("ts", now))})
    return append_records(root, model, records)


def read_records(root: Path, model: str, start: float, end: float) -> Iterator[dict]:
    """Records of one model with ``start <= ts < end``, from the hourly files that can hold them."""
    folder = Path(root) / model
    if not folder.is_dir():
        return
    first, last = partition_file(root, model, start), partition_file(root, model, end)
    for path in sorted(folder.glob("date=*/hour=*.jsonl")):
        key = (path.parent.name, path.name)
        if key < (first.parent.name, first.name) or key > (last.parent.name, last.name):
            continue
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    # A line cut by a crash mid-write: skip it, say where.
                    log.warning("skipping an unreadable line %s:%d", path, number)
                    continue
                if start <= record.get("ts", -1) < end:
                    yield record
