"""Reading one time range from a model's upstream source.

Both kinds return the rows whose ``date_column`` falls in ``[start, end)`` (days),
with that column parsed to a day-precision timestamp, so ingestion can split
them into daily partitions the same way whatever the source.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from include.errors import SourceDataError, SourceError


def _days(start: date, end: date) -> list[date]:
    return [d.date() for d in pd.date_range(start, end, freq="D", inclusive="left")]


def normalise_dates(frame: pd.DataFrame, date_column: str, where: str) -> pd.DataFrame:
    """Parse ``date_column`` to midnight timestamps; fail with the offending value."""
    if date_column not in frame.columns:
        raise SourceError(f"{where}: expected a date column {date_column!r}, found columns {list(frame.columns)}")
    try:
        parsed = pd.to_datetime(frame[date_column], format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where}: column {date_column!r} holds a value that is not a date: {exc}") from exc
    frame = frame.copy()
    frame[date_column] = parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed
    frame[date_column] = frame[date_column].dt.normalize().astype("datetime64[us]")
    return frame


def read_files(root: Path, fmt: str, date_column: str, start: date, end: date, columns: list[str] | None = None) -> pd.DataFrame:
    """Read ``root/date=YYYY-MM-DD/*.<fmt>`` for every day of ``[start, end)``.

    A day without a folder contributes no rows (nothing landed that day). A file without one of
    ``columns`` is refused here: once files of several days are concatenated, its gap would look
    like nulls.
    """
    if not root.is_dir():
        raise SourceError(f"files source: expected a folder of date partitions at {root}, found none")
    frames = []
    for day in _days(start, end):
        for file in sorted((root / f"date={day.isoformat()}").glob(f"*.{fmt}")):
            part = _read_file(file, fmt, day)
            missing = [c for c in columns or [] if c not in part.columns]
            if missing:
                raise SourceDataError(f"{file}: expected the columns {list(columns)}, missing {missing} (found {list(part.columns)})", days=[day], files=[file])
            try:
                part = normalise_dates(part, date_column, str(file))
            except SourceError as exc:
                raise SourceDataError(str(exc), days=[day], files=[file]) from exc
            misplaced = part[part[date_column].dt.date != day]
            if len(misplaced):
                raise SourceDataError(
                    f"{file}: expected every {date_column!r} to be {day} (the partition's date), "
                    f"found {len(misplaced)} rows dated otherwise, e.g. {misplaced[date_column].iloc[0].date()}",
                    days=[day], files=[file],
                )
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=[date_column]).astype({date_column: "datetime64[us]"})
    return pd.concat(frames, ignore_index=True)


def _read_file(file: Path, fmt: str, day: date) -> pd.DataFrame:
    """One landed file, strictly: a truncated, corrupt or mis-encoded file is refused, never half-read."""
    if fmt == "parquet":
        try:
            return pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise SourceDataError(f"{file}: cannot be read as parquet: {exc}", days=[day], files=[file]) from exc
    raw = file.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceDataError(
            f"{file}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} ({exc.reason}); "
            f"expected UTF-8, re-export the file as UTF-8", days=[day], files=[file],
        ) from exc
    try:
        # pyarrow's parser refuses rows with too few or too many fields (a truncated file, a stray
        # delimiter), where pandas' own parser would pad them with NaN or shift the columns.
        return pd.read_csv(io.BytesIO(raw), engine="pyarrow")
    except Exception as exc:
        raise SourceDataError(f"{file}: cannot be read as csv (expected a header row and the same number of fields on every line): {exc}", days=[day], files=[file]) from exc


def read_sql(connection: Any, query: str, date_column: str, start: date, end: date, where: str) -> pd.DataFrame:
    """Run the spec's query for ``[start, end)`` over a DB-API or SQLAlchemy connection."""
    params = {"start": start.isoformat(), "end": end.isoformat()}
    try:
        if hasattr(connection, "dialect"):  # SQLAlchemy engine or connection
            from sqlalchemy import text

            frame = pd.read_sql(text(query), connection, params=params)
        else:
            frame = pd.read_sql(query, connection, params=params)
    except Exception as exc:
        raise SourceError(f"{where}: the query failed: {exc} (reading days [{start}, {end}))") from exc
    return normalise_dates(frame, date_column, where)
