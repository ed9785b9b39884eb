"""Bad-data cases that need another source kind or another spec than the end-to-end matrix
(tests/e2e/test_bad_data.py): undeclared columns refused by the YAML, a single-class label, a source
that cannot be reached. Real DVC workspace, real GX, real SQLite source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from ct_airflow.operators.ingest import IngestOperator
from ct_airflow.operators.validate import GxValidateOperator

from include.errors import SourceError
from tests.operators.conftest import INTERVAL, PENGUINS, SEATTLE, task_context

DAY = INTERVAL[0]


def ingest(spec_path: str, run_id: str = "bad_run") -> dict:
    op = IngestOperator(task_id="ingest", spec_path=spec_path)
    return op.execute(task_context(run_id=run_id, interval=INTERVAL))


@pytest.fixture
def seattle_failing_on_extra_columns(tmp_path, settings, demo_sources):
    import shutil

    shutil.copytree(demo_sources, settings.sources_dir)
    text = Path(SEATTLE).read_text().replace("extra_columns: warn", "extra_columns: fail")
    assert "extra_columns: fail" in text
    path = tmp_path / "seattle_temp_max.yaml"
    path.write_text(text)
    return str(path)


def test_an_extra_column_fails_where_the_yaml_says_fail(settings, seattle_failing_on_extra_columns):
    landed = settings.sources_dir / "landing" / "seattle_weather" / f"date={DAY}" / "part-0.csv"
    landed.write_text(landed.read_text().replace("weather\n", "weather,humidity\n", 1).rstrip("\n") + ",0.8\n")

    with pytest.raises(AirflowFailException) as failure:
        ingest(seattle_failing_on_extra_columns)

    message = str(failure.value)
    assert "seattle_temp_max" in message and DAY.isoformat() in message and "'humidity'" in message and "extra_columns" in message
    kept = settings.quarantine_dir / "seattle_temp_max" / "bad_run"
    assert "humidity" in (kept / "REASON.txt").read_text()
    assert (kept / f"date={DAY}.parquet").exists()  # the partition written before the verdict is kept, not lost
    assert (settings.lake_dir / "seattle_temp_max" / f"date={DAY}.quarantined").exists()


def test_a_single_class_label_is_refused_by_the_window_suite(settings, penguin_source):
    """An upstream filter bug: the query now returns one species only. Training on it would give a constant model."""
    penguin_source.execute("""UPDATE penguins_raw SET "Species" = 'Adelie Penguin (Pygoscelis adeliae)'""")
    penguin_source.commit()
    import os

    os.environ["AIRFLOW_CONN_PENGUINS_DB"] = json.dumps({"conn_type": "sqlite", "host": str(settings.sources_dir / "penguins.db")})
    try:
        result = ingest(PENGUINS)
    finally:
        os.environ.pop("AIRFLOW_CONN_PENGUINS_DB")
    validate = GxValidateOperator(task_id="validate", spec_path=PENGUINS, snapshot_path=result["snapshot_path"], batch_days=result["batch_days"])

    with pytest.raises(AirflowFailException) as failure:
        validate.execute(task_context(run_id="bad_run"))

    message = str(failure.value)
    assert "penguin_species" in message and DAY.isoformat() in message
    assert "expect_column_unique_value_count_to_be_between on column 'species'" in message and "observed 1" in message
    assert (settings.quarantine_dir / "penguin_species" / "bad_run" / "REASON.txt").exists()


def test_an_unreachable_source_is_a_retried_fault_naming_the_model_connection_and_days(settings, monkeypatch):
    """No batch arrived, so there is nothing to quarantine: the task fails with a fault Airflow retries."""
    monkeypatch.setenv("AIRFLOW_CONN_PENGUINS_DB", json.dumps({"conn_type": "sqlite", "host": str(settings.home / "no" / "such" / "dir" / "penguins.db")}))

    with pytest.raises(SourceError) as failure:
        ingest(PENGUINS)

    assert not isinstance(failure.value, AirflowFailException)
    message = str(failure.value)
    assert "penguin_species" in message and "'penguins_db'" in message and DAY.isoformat() in message
    assert "unable to open database file" in message
    assert not (settings.quarantine_dir / "penguin_species").exists()


def test_a_missing_landing_folder_is_a_retried_fault(settings):
    with pytest.raises(SourceError, match="expected a folder of date partitions") as failure:
        ingest(SEATTLE)
    assert not isinstance(failure.value, AirflowFailException)
