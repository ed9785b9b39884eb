"""Ingestion: immutable daily partitions, and the training snapshot built from them.

A run owns the days of its data interval (the *batch*). The snapshot is the
rolling window of ``window_days`` days that ends with the batch. Partitions are
written once (atomically) and never rewritten: re-ingesting a day must give the
same bytes, otherwise ``PartitionConflictError`` says which day changed. Days of
the window that were never ingested (the first run, a gap) are read too, so the
first run of a model trains on a full window.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from include.errors import PartitionConflictError, SourceDataError, SourceError, StorageError
from include.quarantine import marker_of

ReadRange = Callable[[date, date], pd.DataFrame]
# Spec column types -> the pandas dtypes partitions are stored with (nullable where pandas has it).
PANDAS_TYPES = {"float": "float64", "int": "Int64", "str": "str", "bool": "boolean", "datetime": "datetime64[us]"}


@dataclass(frozen=True)
class IngestResult:
    batch_days: list[str]
    batch_rows: int
    partitions_written: list[str]
    quarantined_days_left_out: list[str]
    undeclared_columns: list[str]
    snapshot_path: str
    snapshot_rows: int
    window_start: str
    window_end: str
    reused_snapshot: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def contiguous_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as the fewest ``[start, end)`` ranges, e.g. 1,2,3,5 -> [1, 4), [5, 6)."""
    ranges: list[tuple[date, date]] = []
    for day in days:
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


def partition_path(model_lake: Path, day: date) -> Path:
    return model_lake / f"date={day.isoformat()}.parquet"


def quarantine_marker(model_lake: Path, day: date) -> Path:
    return marker_of(partition_path(model_lake, day))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise deterministically: same frame and library versions, same bytes."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow", compression="snappy")
    return buffer.getvalue()


def write_atomically(path: Path, payload: bytes) -> None:
    """Readers never see a half-written file, even if the task is killed mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {path}: {exc.strerror} (errno {exc.errno}); free space or fix the folder, then retry") from exc
        raise


def window_record_path(snapshot_path: Path) -> Path:
    return Path(snapshot_path).with_name(Path(snapshot_path).name + ".window.json")


def read_window_record(snapshot_path: Path) -> dict | None:
    """The record beside a snapshot, or None when there is none (or it cannot be read: rebuild)."""
    try:
        record = json.loads(window_record_path(snapshot_path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("window"), str) else None


def write_window_record(snapshot_path: Path, record: dict) -> None:
    write_atomically(window_record_path(snapshot_path), json.dumps(record, sort_keys=True).encode())


def file_stat(path: Path) -> list[int]:
    """What changes when a file is replaced or rewritten: size, modification time, inode."""
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def window_identity(partitions: list[Path]) -> str:
    """The identity of a snapshot built from ``partitions`` (in window order), from metadata only.

    A partition is written once, atomically, and never rewritten, so its name, size, mtime and
    inode stand for its bytes; the writer's versions stand for how they are concatenated.
    """
    import pyarrow

    listing = [[p.name, *file_stat(p)] for p in partitions]
    payload = {"partitions": listing, "pandas": pd.__version__, "pyarrow": pyarrow.__version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _reuse_snapshot(previous: Path, identity: str, snapshot_path: Path) -> dict | None:
    """Link ``previous`` to ``snapshot_path`` when it was built from the same window; its record, else None."""
    record = read_window_record(previous)
    if record is None or record["window"] != identity or record.get("stat") is None:
        return None
    try:
        if file_stat(previous) != record["stat"]:
            return None  # the file changed since it was recorded: rebuild
        snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = snapshot_path.with_name(f".{snapshot_path.name}.link")
        tmp.unlink(missing_ok=True)
        try:
            os.link(previous, tmp)  # an own name for the same bytes: a later version of previous replaces its file, not these
        except OSError:
            import shutil

            shutil.copyfile(previous, tmp)
        os.replace(tmp, snapshot_path)
    except OSError:
        return None
    return record


def conform(frame: pd.DataFrame, schema: dict[str, str], date_column: str) -> pd.DataFrame:
    """Give a day's rows the declared columns and dtypes, whatever else was read with them.

    Without this a day's bytes would depend on the other days of the same read (pandas
    infers an int column as float when another day has a gap; an empty day read alone
    has no columns), and re-ingesting an unchanged day would look like a conflict.
    Undeclared columns are dropped (the model cannot use them). A value that cannot be
    cast to its declared type is refused here (``SourceDataError``): stored as it is, it
    would make the column unreadable for every later window.
    """
    columns = [date_column, *(c for c in schema if c != date_column)]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=PANDAS_TYPES[schema.get(c, "datetime")]) for c in columns})
    out = frame[[c for c in columns if c in frame.columns]].copy()
    for column in out.columns:
        declared = schema.get(column, "datetime")
        try:
            out[column] = out[column].astype(PANDAS_TYPES[declared])
        except (ValueError, TypeError):
            bad = _uncastable(out[column], PANDAS_TYPES[declared])
            raise SourceDataError(
                f"column {column!r}: expected {declared} values, found {len(bad)} that cannot be read as {declared}, e.g. {bad[:5]}"
            ) from None
    return out


def _uncastable(values: pd.Series, dtype: str) -> list:
    bad = []
    for value in values.dropna().unique()[:10_000]:
        try:
            pd.Series([value]).astype(dtype)
        except (ValueError, TypeError):
            bad.append(value)
    return bad


def _split_by_day(frame: pd.DataFrame, date_column: str, days: list[date]) -> dict[date, pd.DataFrame]:
    frame = frame.sort_values(date_column, kind="stable").reset_index(drop=True)
    keys = frame[date_column].dt.date
    return {day: frame[keys == day].reset_index(drop=True) for day in days}


def ingest_window(
    read_range: ReadRange,
    model_lake: Path,
    snapshot_path: Path,
    date_column: str,
    interval_start: date,
    interval_end: date,
    window_days: int,
    schema: dict[str, str] | None = None,
    previous_snapshot: Path | None = None,
) -> IngestResult:
    """Write the batch partitions (and any missing ones of the window), then the snapshot.

    ``schema`` (column -> spec type) makes each partition's bytes independent of what
    was read with it; the operators always pass the spec's columns. ``previous_snapshot``
    (the model's last versioned snapshot) is reused when its window record matches.
    """
    if interval_end <= interval_start:
        raise SourceError(f"data interval is empty: start {interval_start} is not before end {interval_end}")
    batch = day_range(interval_start, interval_end)
    full_window = day_range(interval_end - timedelta(days=window_days), interval_end)
    window = [d for d in full_window if d in batch or not quarantine_marker(model_lake, d).exists()]
    to_read = sorted({*batch, *(d for d in window if not partition_path(model_lake, d).exists())})

    written: list[str] = []
    # Only the days needed, in contiguous runs: a quarantined day between them is never read again,
    # so its bad file cannot fail the runs of the days after it.
    frame = pd.concat([read_range(start, end) for start, end in contiguous_ranges(to_read)], ignore_index=True)
    for day, rows in _split_by_day(frame, date_column, to_read).items():
        if schema is not None:
            try:
                rows = conform(rows, schema, date_column)
            except SourceDataError as exc:
                raise SourceDataError(f"{day}: {exc}", days=[day]) from None
        path = partition_path(model_lake, day)
        payload = parquet_bytes(rows)
        if path.exists():
            if path.read_bytes() != payload:
                raise PartitionConflictError(
                    f"partition {path} is immutable but the source now gives different data for {day} "
                    f"({len(rows)} rows). If the upstream correction is intended, move the old partition "
                    f"away and re-run this date."
                )
            continue
        write_atomically(path, payload)
        written.append(path.name)

    batch_frame = pd.concat(_split_by_day(frame, date_column, batch).values(), ignore_index=True)
    batch_rows = len(batch_frame)
    # Columns the source sends but the spec does not declare are dropped from the partitions;
    # the caller decides (spec: expectations.extra_columns) whether that deserves a warning or a failure.
    undeclared = sorted(c for c in batch_frame.columns if schema is not None and c != date_column and c not in schema and batch_frame[c].notna().any())
    window_files = [p for d in window if (p := partition_path(model_lake, d)).exists()]
    identity = window_identity(window_files)
    window_record_path(snapshot_path).unlink(missing_ok=True)  # never a record describing other bytes
    reused = _reuse_snapshot(Path(previous_snapshot), identity, Path(snapshot_path)) if previous_snapshot and window_files else None
    if reused is not None:
        snapshot_rows = int(reused["rows"])
    else:
        parts = [p for p in (pd.read_parquet(f) for f in window_files) if len(p)]
        snapshot = pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0]
        write_atomically(snapshot_path, parquet_bytes(snapshot))
        snapshot_rows = len(snapshot)
    write_window_record(snapshot_path, {"window": identity, "rows": snapshot_rows})
    return IngestResult(
        batch_days=[d.isoformat() for d in batch],
        batch_rows=batch_rows,
        partitions_written=written,
        quarantined_days_left_out=[d.isoformat() for d in full_window if d not in window],
        undeclared_columns=undeclared,
        snapshot_path=str(snapshot_path),
        snapshot_rows=snapshot_rows,
        window_start=full_window[0].isoformat(),
        window_end=interval_end.isoformat(),
        reused_snapshot=reused is not None,
    )
