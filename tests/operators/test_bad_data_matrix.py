"""The bad-data matrix, decided where it is decided: whatever lands upstream, ``ingest`` or ``validate``
refuses it, keeps it in quarantine with a reason naming the model, the day and the problem, and marks
the day in the lake. Real files source, real lake, real DVC workspace, real Great Expectations.

Each case damages one day of the seattle_temp_max landing folder and runs the two operators on that
day as the DAG does. What only a whole run shows (nothing trained, the champion still served, the
downstream tasks never run) is checked once per kind of refusal by full DAG runs in tests/e2e.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException
from ct_airflow.operators.ingest import IngestOperator
from ct_airflow.operators.validate import GxValidateOperator

from tests.operators.conftest import INTERVAL, SEATTLE, task_context

MODEL = "seattle_temp_max"
DAY = INTERVAL[0]
HEADER = "date,precipitation,temp_max,temp_min,wind,weather"

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


@pytest.fixture
def seattle_spec(tmp_path) -> str:
    """seattle_temp_max with a 30-day window (the first ingest reads 30 files, not 365): every check the
    cases cross is the same; only the window's row count bound follows the window."""
    text = Path(SEATTLE).read_text()
    for old, new in (("window_days: 365", "window_days: 30"), ("min_rows: 300 ", "min_rows: 20 ")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "spec" / f"{MODEL}.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return str(path)


@pytest.fixture
def seattle_sources(settings, demo_sources) -> Path:
    """A private copy of the demo sources; returns the landing folder of the batch day (tests damage it)."""
    import shutil

    shutil.copytree(demo_sources, settings.sources_dir)
    return settings.sources_dir / "landing" / "seattle_weather" / f"date={DAY}"


def ingest_and_validate(spec_path: str, run_id: str) -> dict:
    """The DAG's first and third steps on the batch day (versioning in between changes no verdict)."""
    ingested = IngestOperator(task_id="ingest", spec_path=spec_path).execute(task_context(MODEL, run_id))  # a scheduled run owning DAY
    validate = GxValidateOperator(task_id="validate", spec_path=spec_path, snapshot_path=ingested["snapshot_path"], batch_days=ingested["batch_days"])
    return {"ingest": ingested, "validate": validate.execute(task_context(MODEL, run_id))}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_bad_batch_is_refused_by_the_task_that_decides_kept_and_explained(settings, seattle_spec, seattle_sources, case):
    damage, refusing_task, words = CASES[case]
    damage(DAY, seattle_sources)
    lake = settings.lake_dir / MODEL

    with pytest.raises(AirflowFailException) as failure:
        ingest_and_validate(seattle_spec, "bad_run")

    reached_validate = any((settings.reports_dir / MODEL / "bad_run").rglob("*.json"))
    assert reached_validate == (refusing_task == "validate"), f"{case}: expected {refusing_task} to refuse it: {failure.value}"
    reason = (settings.quarantine_dir / MODEL / "bad_run" / "REASON.txt").read_text()
    for word in [MODEL, DAY.isoformat(), *words]:
        assert word in reason, f"{word!r} missing from the quarantine reason:\n{reason}"
        assert word in str(failure.value), f"{word!r} missing from the task's failure:\n{failure.value}"
    assert "Nothing was trained" in str(failure.value)
    assert (lake / f"date={DAY}.quarantined").exists()
    assert not (lake / f"date={DAY}.parquet").exists()  # the lake keeps validated data only
    # The evidence is kept: the landed files (ingest), or the batch partition, the snapshot and GX's result (validate).
    kept = sorted(p.name for p in (settings.quarantine_dir / MODEL / "bad_run").iterdir())
    if refusing_task == "ingest":
        assert any(name.endswith(".csv") for name in kept), kept
    else:
        assert {"bad_run.parquet", "validation.json"} <= set(kept), kept
        assert (lake / f"date={DAY - timedelta(days=1)}.parquet").exists()  # the rest of the window stays in the lake


def test_an_extra_column_passes_with_a_warning_as_the_yaml_says(settings, seattle_spec, seattle_sources):
    """seattle_temp_max.yaml: ``extra_columns: warn``: a new upstream column is logged and dropped."""
    (seattle_sources / "part-0.csv").write_text(f"{HEADER},humidity\n{DAY},0.0,18.3,9.4,3.1,sun,0.81\n")

    outcome = ingest_and_validate(seattle_spec, "good_run")

    assert outcome["validate"]["success"] is True
    partition = pd.read_parquet(settings.lake_dir / MODEL / f"date={DAY}.parquet")
    assert "humidity" not in partition.columns and len(partition) == 1
