"""Reading one time range from a model's upstream source.

Both kinds return the rows whose ``date_column`` falls in ``[start, end)`` (days),
with that column parsed to a day-precision timestamp, so ingestion can split
them into daily partitions the same way whatever the source.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from include.errors import SourceError


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


def read_files(root: Path, fmt: str, date_column: str, start: date, end: date) -> pd.DataFrame:
    """Read ``root/date=YYYY-MM-DD/*.<fmt>`` for every day of ``[start, end)``.

    A day without a folder contributes no rows (nothing landed that day).
    """
    if not root.is_dir():
        raise SourceError(f"files source: expected a folder of date partitions at {root}, found none")
    frames = []
    for day in _days(start, end):
        for file in sorted((root / f"date={day.isoformat()}").glob(f"*.{fmt}")):
            try:
                part = pd.read_csv(file) if fmt == "csv" else pd.read_parquet(file)
            except UnicodeDecodeError as exc:
                raise SourceError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
            except Exception as exc:  # pandas raises many types for a corrupt file
                raise SourceError(f"{file}: cannot be read as {fmt}: {exc}") from exc
            part = normalise_dates(part, date_column, str(file))
            misplaced = part[part[date_column].dt.date != day]
            if len(misplaced):
                raise SourceError(
                    f"{file}: expected every {date_column!r} to be {day} (the partition's date), "
                    f"found {len(misplaced)} rows dated otherwise, e.g. {misplaced[date_column].iloc[0].date()}"
                )
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=[date_column]).astype({date_column: "datetime64[us]"})
    return pd.concat(frames, ignore_index=True)


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
        raise SourceError(f"{where}: the query failed: {exc}") from exc
    return normalise_dates(frame, date_column, where)
