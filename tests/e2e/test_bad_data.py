"""The bad-data matrix: whatever lands upstream, the platform explains it, keeps it, trains nothing on it,
and the champion keeps serving.

One champion is trained first; then each case damages one day of the seattle_temp_max landing folder and
runs the whole DAG for it with ``dag.test()``. Every refused case must end the same way: the run fails at
ingest or validate with a message naming the model, the day and the problem; the day is in quarantine
(with the evidence) and marked in the lake; no model version was registered; the champion still answers.
Cases that need another source kind or spec are in tests/operators/test_bad_source_data.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from include.registry import CHAMPION
from tests.e2e.helpers import run_dag
from tests.e2e.test_pipeline_lifecycle import predict, registry, served, versions

pytestmark = pytest.mark.e2e

MODEL = "seattle_temp_max"
FIRST_RUN = "2026-05-02"
HEADER = "date,precipitation,temp_max,temp_min,wind,weather"


def landing(platform, day: date) -> Path:
    return platform.sources_dir / "landing" / "seattle_weather" / f"date={day}"


def good_row(day: date) -> str:
    return f"{day},0.0,18.3,9.4,3.1,sun"


# case id -> (how the day's landing folder is damaged, the task that must refuse it, words the reason must contain)
CASES = {
    "missing-column": (lambda d, f: (f / "part-0.csv").write_text(f"date,precipitation,temp_max,temp_min,weather\n{d},0.0,18.3,9.4,sun\n"),
                       "ingest", ["part-0.csv", "missing ['wind']"]),
    "wrong-dtype": (lambda d, f: (f / "part-0.csv").write_text(f"{HEADER}\n{d},0.0,18.3,9.4,strong,sun\n"),
                    "ingest", ["column 'wind': expected float values", "'strong'"]),
    "nulls-over-threshold": (lambda d, f: (f / "part-0.csv").write_text(f"{HEADER}\n{d},0.0,18.3,,3.1,sun\n"),
                             "validate", ["temp_min", "expect_column_values_to_not_be_null", "[window]"]),
    "out-of-range": (lambda d, f: (f / "part-0.csv").write_text(f"{HEADER}\n{d},-5.0,18.3,9.4,3.1,sun\n"),
                     "validate", ["precipitation", "expect_column_values_to_be_between"]),
    "unseen-category": (lambda d, f: (f / "part-0.csv").write_text(f"{HEADER}\n{d},0.0,18.3,9.4,3.1,hail\n"),
                        "validate", ["weather", "expect_column_values_to_be_in_set", "hail"]),
    "duplicated-rows": (lambda d, f: (f / "part-1.csv").write_bytes((f / "part-0.csv").read_bytes()),
                        "validate", ["expect_compound_columns_to_be_unique"]),
    "empty-interval": (lambda d, f: [p.unlink() for p in f.glob("*.csv")],
                       "validate", ["expect_table_row_count_to_be_between", "[batch]", "'min_value': 1"]),
    "truncated-file": (lambda d, f: (f / "part-0.csv").write_text(f"{HEADER}\n{d},0.0,18.3,9.4"),
                       "ingest", ["part-0.csv", "cannot be read as csv", "Expected 6 columns, got 4"]),
    "corrupt-file": (lambda d, f: (f / "part-0.csv").write_bytes(b"\x00\x1f\x8b\x08 not a csv \xff\xfe\x00\x00"),
                     "ingest", ["part-0.csv", "not UTF-8"]),
    "wrong-encoding": (lambda d, f: (f / "part-0.csv").write_bytes(f"{HEADER}\n{d},0.0,18.3,9.4,3.1,pluie légère\n".encode("latin-1")),
                       "ingest", ["part-0.csv", "not UTF-8", "byte 0xe9"]),
}


@pytest.fixture(scope="module")
def champion(platform) -> str:
    states = run_dag(MODEL, FIRST_RUN)
    assert states["_run"] == "success", states
    return registry(platform).by_alias(MODEL, CHAMPION).version


def _reason_for(platform, day: date) -> str:
    reasons = [p.read_text() for p in (platform.quarantine_dir / MODEL).glob("*/REASON.txt")]
    matching = [r for r in reasons if day.isoformat() in r]
    assert matching, f"no quarantine REASON.txt mentions {day}: {reasons}"
    return matching[-1]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_bad_batch_is_refused_kept_and_explained_and_the_champion_still_serves(platform, champion, case):
    damage, refusing_task, words = CASES[case]
    index = list(CASES).index(case)
    logical = date.fromisoformat(FIRST_RUN) + timedelta(days=10 + index)  # one fresh day per case
    day = logical - timedelta(days=1)
    folder = landing(platform, day)
    damage(day, folder)
    before = versions(platform)

    states = run_dag(MODEL, logical.isoformat())

    assert states["_run"] == "failed", states
    assert states[refusing_task] == "failed", states
    assert all(states[t] in ("upstream_failed", "skipped", "None") for t in ("train", "evaluate", "promote", "deploy")), states
    reason = _reason_for(platform, day)
    for word in [MODEL, *words]:
        assert word in reason, f"{word!r} missing from the quarantine reason:\n{reason}"
    assert (platform.lake_dir / MODEL / f"date={day}.quarantined").exists()
    assert not (platform.lake_dir / MODEL / f"date={day}.parquet").exists()
    assert versions(platform) == before  # nothing trained
    assert registry(platform).by_alias(MODEL, CHAMPION).version == champion
    assert served(platform)["version"] == champion and predict(platform).status_code == 200


def test_an_extra_column_passes_with_a_warning_as_the_yaml_says(platform, champion):
    """seattle_temp_max.yaml: ``extra_columns: warn``: a new upstream column is logged and dropped."""
    logical = date.fromisoformat(FIRST_RUN) + timedelta(days=10 + len(CASES))
    day = logical - timedelta(days=1)
    (landing(platform, day) / "part-0.csv").write_text(f"{HEADER},humidity\n{good_row(day)},0.81\n")

    states = run_dag(MODEL, logical.isoformat())

    assert states["_run"] == "success", states
    assert states["validate"] == "success"
    import pandas as pd

    partition = pd.read_parquet(platform.lake_dir / MODEL / f"date={day}.parquet")
    assert "humidity" not in partition.columns and len(partition) == 1
