"""A synthetic model for the benchmark: a regression dataset of any size and its model YAML.

The benchmark creates its own data (no network, no shipped files): ``rows`` rows spread evenly
over ``days`` daily parquet files in the layout a ``files`` source reads
(``<root>/date=YYYY-MM-DD/part-0.parquet``), and a spec whose window covers exactly those days.
The target is linear in the features plus noise, so a Ridge model fits it well at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

CATEGORIES = ["a", "b", "c", "d", "e"]
END = date(2026, 6, 30)  # the last day of data: the interval [END, END+1) is the run's batch

SPEC_TEMPLATE = {
    "description": "Synthetic benchmark regression: y from three numeric features and a category.",
    "owner": {"team": "benchmark"},
    "task": "regression",
    "schedule": "@daily",
    "source": {"kind": "files", "path": "landing/{name}", "format": "parquet", "date_column": "date"},
    "target": "y",
    "features": {"numeric": ["x1", "x2", "x3"], "categorical": ["segment"]},
    "estimator": {"class": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}},
    "evaluation": {
        "metrics": ["rmse", "mae", "r2"],
        "primary_metric": "rmse",
        "thresholds": {"r2": {"min": 0.5}},
        "promotion_margin": 0.0,
        "holdout_fraction": 0.2,
    },
    "expectations": {
        "min_rows": 10,
        "batch_min_rows": 1,
        "duplicate_rows": "allow",
        "columns": {
            "date": {"type": "datetime"},
            "x1": {"type": "float", "min": -10, "max": 10},
            "x2": {"type": "float", "min": -10, "max": 10},
            "x3": {"type": "float", "min": 0, "max": 100},
            "segment": {"type": "str", "allowed": CATEGORIES},
            "y": {"type": "float"},
        },
    },
    "deploy": {"target": "local"},
    "tags": ["benchmark"],
}


@dataclass(frozen=True)
class SyntheticModel:
    name: str
    spec_path: Path
    sources_dir: Path
    rows: int
    days: int

    @property
    def interval(self) -> tuple[date, date]:
        """The data interval of the run whose batch is the last day."""
        return END, END + timedelta(days=1)


def frame_for_day(day: date, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 2, rows).clip(-10, 10)
    x2 = rng.normal(0, 2, rows).clip(-10, 10)
    x3 = rng.uniform(0, 100, rows)
    segment = rng.choice(CATEGORIES, rows)
    offset = pd.Series(segment).map(dict(zip(CATEGORIES, [0.0, 1.0, -1.0, 2.0, -2.0]))).to_numpy()
    y = 3 * x1 - 2 * x2 + 0.05 * x3 + offset + rng.normal(0, 1, rows)
    return pd.DataFrame({"date": pd.Timestamp(day), "x1": x1, "x2": x2, "x3": x3, "segment": segment, "y": y})


def write_day(sources_dir: Path, name: str, day: date, rows: int, seed: int) -> Path:
    folder = sources_dir / "landing" / name / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    frame_for_day(day, rows, seed).to_parquet(path, index=False)
    return path


def create(root: Path, rows: int, days: int = 30, name: str | None = None, end: date = END, target: str = "local") -> SyntheticModel:
    """Landing files for ``days`` days ending ``end`` (``rows`` in all) and the spec reading them.

    ``window_days`` counts the batch day, so the run whose interval is [end, end+1) trains on
    every row written here.
    """
    if rows < days:
        raise ValueError(f"need at least one row per day: {rows} rows over {days} days")
    name = name or f"synthetic_{rows}"
    sources_dir = root / "sources"
    per_day = np.full(days, rows // days)
    per_day[: rows % days] += 1
    for i, count in enumerate(per_day):
        write_day(sources_dir, name, end - timedelta(days=days - 1 - i), int(count), seed=i)
    spec = {**SPEC_TEMPLATE, "window_days": days, "start_date": (end - timedelta(days=days)).isoformat()}
    spec["source"] = {**SPEC_TEMPLATE["source"], "path": f"landing/{name}"}
    spec["deploy"] = {"target": target}
    models_dir = root / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    spec_path = models_dir / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return SyntheticModel(name, spec_path, sources_dir, rows, days)
