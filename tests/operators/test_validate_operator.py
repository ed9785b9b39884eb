"""GxValidateOperator against real Great Expectations: pass, fail, quarantine, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException
from ct_airflow.operators.validate import GxValidateOperator

from tests.operators.conftest import INTERVAL, PENGUINS, task_context


def operator(result) -> GxValidateOperator:
    return GxValidateOperator(task_id="validate", spec_path=PENGUINS, snapshot_path=result.snapshot_path, batch_days=result.batch_days)


def test_a_good_snapshot_passes_and_writes_html_and_json(penguin_snapshot):
    result, _ = penguin_snapshot
    out = operator(result).execute(task_context())

    assert out["success"] is True
    assert out["html_report"].endswith(".html") and "<html" in Path(out["html_report"]).read_text().lower()
    assert json.loads(Path(out["json_report"]).read_text())["failed"] == 0


def test_a_bad_batch_fails_is_quarantined_and_explained(settings, penguin_source):
    from ct_airflow.hooks.dvc import DvcHook

    from include import sources
    from include.ingest import ingest_window, partition_path
    from include.spec import load_spec

    spec = load_spec(PENGUINS)
    day = INTERVAL[0].isoformat()
    # A field team's bad upload: impossible flipper lengths on the batch day.
    columns = '"Date Egg", "Species", "Island", "Sex", "Culmen Length (mm)", "Culmen Depth (mm)", "Flipper Length (mm)", "Body Mass (g)", "studyName", "Sample Number"'
    penguin_source.execute(
        f"INSERT INTO penguins_raw ({columns}) VALUES (?, 'Gentoo penguin (Pygoscelis papua)', 'Biscoe', 'MALE', 45.0, 15.0, 9999.0, 5000.0, 'PAL0910', 999)",
        (day,),
    )
    penguin_source.commit()
    result = ingest_window(
        lambda a, b: sources.read_sql(penguin_source, spec.source.query, spec.source.date_column, a, b, "test"),
        settings.lake_dir / spec.name, DvcHook().workspace.snapshot_path(spec.name), spec.source.date_column, *INTERVAL, spec.window_days,
    )

    with pytest.raises(AirflowFailException) as failure:
        operator(result).execute(task_context(run_id="bad_run"))

    message = str(failure.value)
    assert "penguin_species" in message and day in message and "flipper_length_mm" in message and "quarantine" in message
    kept = settings.quarantine_dir / "penguin_species" / "bad_run"
    assert (kept / f"date={day}.parquet").exists() and (kept / "snapshot.parquet").exists()
    assert "flipper_length_mm" in (kept / "REASON.txt").read_text()
    assert not partition_path(settings.lake_dir / "penguin_species", INTERVAL[0]).exists()
    assert 9999.0 in pd.read_parquet(kept / f"date={day}.parquet")["flipper_length_mm"].tolist()
    assert list((settings.reports_dir / "penguin_species" / "bad_run").rglob("*.html"))


def test_every_declared_column_type_passes_once_conformed(tmp_path):
    """The dtypes ingestion stores (nullable Int64, boolean, str, datetime64[us]) satisfy the generated type checks."""
    import textwrap

    from include.ingest import conform
    from include.spec import load_spec
    from include.validation import validate_batch_and_window

    path = tmp_path / "all_types.yaml"
    path.write_text(textwrap.dedent("""
        description: every column type
        owner: {team: t}
        task: classification
        source: {kind: files, path: x, date_column: day}
        target: label
        features: {numeric: [count, ratio], categorical: [flag]}
        estimator: {class: sklearn.linear_model.LogisticRegression}
        evaluation: {metrics: [accuracy], primary_metric: accuracy}
        expectations:
          columns:
            day: {type: datetime}
            count: {type: int, max_null_fraction: 0.5}
            ratio: {type: float}
            flag: {type: bool, max_null_fraction: 0.5}
            label: {type: str, allowed: [a, b]}
    """))
    spec = load_spec(path)
    raw = pd.DataFrame({"day": ["2026-01-01", "2026-01-02"], "count": [3, None], "ratio": [0.5, 1], "flag": [True, None], "label": ["a", "b"]})
    raw["day"] = pd.to_datetime(raw["day"])
    frame = conform(raw, {c: col.type for c, col in spec.expectations.columns.items()}, "day")

    outcome = validate_batch_and_window(frame, frame, spec, tmp_path / "report", "types")
    assert outcome.success, outcome.summary()


def test_a_pass_is_reused_for_the_same_data_and_suite_and_not_for_other_data(penguin_snapshot, settings):
    """A re-run on unchanged data does not run GX again: it shows the earlier report."""
    result, version = penguin_snapshot
    reports = settings.reports_dir / "penguin_species"

    def validate(md5: str, run_id: str):
        op = GxValidateOperator(task_id="validate", spec_path=PENGUINS, snapshot_path=result.snapshot_path, batch_days=result.batch_days, data_md5=md5)
        return op.execute(task_context(run_id=run_id))

    first = validate(version.md5, "first")
    again = validate(version.md5, "again")
    assert again == first and not (reports / "again").exists()  # the same verdict and report; GX wrote nothing

    other = validate("0" * 32, "other_data")
    assert other["html_report"] != first["html_report"] and (reports / "other_data").is_dir()

    # The earlier report was deleted: nothing to show, so validate again.
    Path(first["html_report"]).unlink()
    third = validate(version.md5, "third")
    assert third["success"] and (reports / "third").is_dir()
