"""The demo upstream systems for the two example models, built from PyPI packages.

Real public data, nothing downloaded: the daily Seattle weather of ``vega_datasets``
lands as date-partitioned CSV files, and the Palmer penguins (``penguins-raw.csv``
of ``palmerpenguins``, with its egg-laying dates) go into an SQLite database that
the pipeline reaches through an Airflow connection.

Both histories are *replayed*: their dates are shifted by a whole number of days
so that the history ends on ``end`` (by default a year from the day of seeding).
Nightly runs and backfills near today then find data, and each day's data differs.
Seeding happens once per state folder; ``make clean`` starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

SEATTLE_DIR = "landing/seattle_weather"
PENGUINS_DB = "penguins.db"
_MARKER = ".seeded.json"


def _shift(dates: pd.Series, end: date) -> pd.Series:
    offset = pd.Timestamp(end) - dates.max()
    return dates + pd.Timedelta(days=offset.days)


def seattle_weather() -> pd.DataFrame:
    from vega_datasets import data

    return data.seattle_weather()


def penguins_raw() -> pd.DataFrame:
    import palmerpenguins

    return pd.read_csv(Path(palmerpenguins.__file__).parent / "data" / "penguins-raw.csv")


def seed_seattle(sources_dir: Path, end: date) -> int:
    frame = seattle_weather()
    frame["date"] = _shift(pd.to_datetime(frame["date"]), end)
    root = sources_dir / SEATTLE_DIR
    for day, rows in frame.groupby(frame["date"].dt.date):
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        rows.assign(date=rows["date"].dt.strftime("%Y-%m-%d")).to_csv(folder / "part-0.csv", index=False)
    return len(frame)


def seed_penguins(sources_dir: Path, end: date) -> int:
    frame = penguins_raw()
    frame["Date Egg"] = _shift(pd.to_datetime(frame["Date Egg"]), end).dt.strftime("%Y-%m-%d")
    sources_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(sources_dir / PENGUINS_DB) as conn:
        frame.to_sql("penguins_raw", conn, if_exists="replace", index=False)
        conn.execute('CREATE INDEX IF NOT EXISTS penguins_raw_date ON penguins_raw ("Date Egg")')
    return len(frame)


def seed_demo_sources(sources_dir: Path, end: date) -> dict:
    """Create the demo sources once; a second call with the same folder is a no-op."""
    marker = sources_dir / _MARKER
    if marker.exists():
        return json.loads(marker.read_text())
    summary = {
        "end": end.isoformat(),
        "seattle_weather_rows": seed_seattle(sources_dir, end),
        "penguins_rows": seed_penguins(sources_dir, end),
    }
    marker.write_text(json.dumps(summary))
    return summary


def main() -> None:
    from include.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day of the replayed history (default: today + 365 days, or $CT_DEMO_END)")
    args = parser.parse_args()
    end = args.end or (date.fromisoformat(os.environ["CT_DEMO_END"]) if os.environ.get("CT_DEMO_END") else date.today() + timedelta(days=365))
    summary = seed_demo_sources(Settings.from_env().sources_dir, end)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
