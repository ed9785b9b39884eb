"""Reading upstream sources: rows of one interval, dates normalised, actionable errors naming the file."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from include.errors import SourceError
from include.sources import normalise_dates, read_files, read_sql

D = date(2026, 5, 1)


def _land(root: Path, day: str, text: str | bytes, name: str = "part-0.csv") -> Path:
    folder = root / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "landing"


# --- files: what is read ---------------------------------------------------------------------------


def test_read_files_reads_every_day_of_the_half_open_range(root):
    for day in ("2026-05-01", "2026-05-02", "2026-05-03"):
        _land(root, day, f"date,x\n{day},1.0\n{day},2.0\n")
    frame = read_files(root, "csv", "date", date(2026, 5, 1), date(2026, 5, 3))
    assert len(frame) == 4
    assert set(frame["date"].dt.date) == {date(2026, 5, 1), date(2026, 5, 2)}
    assert str(frame["date"].dtype) == "datetime64[us]"


def test_read_files_reads_every_file_of_a_day(root):
    _land(root, "2026-05-01", "date,x\n2026-05-01,1\n", name="part-0.csv")
    _land(root, "2026-05-01", "date,x\n2026-05-01,2\n", name="part-1.csv")
    _land(root, "2026-05-01", "not a csv at all", name="notes.txt")
    frame = read_files(root, "csv", "date", D, date(2026, 5, 2))
    assert list(frame["x"]) == [1, 2]


def test_a_day_without_a_folder_contributes_no_rows(root):
    _land(root, "2026-05-03", "date,x\n2026-05-03,1\n")
    frame = read_files(root, "csv", "date", D, date(2026, 5, 3))
    assert len(frame) == 0
    assert list(frame.columns) == ["date"]
    assert str(frame["date"].dtype) == "datetime64[us]"


def test_read_files_reads_parquet(root):
    folder = root / "date=2026-05-01"
    folder.mkdir(parents=True)
    pd.DataFrame({"date": ["2026-05-01"], "x": [3.5]}).to_parquet(folder / "part-0.parquet", index=False)
    frame = read_files(root, "parquet", "date", D, date(2026, 5, 2))
    assert list(frame["x"]) == [3.5]
    assert frame["date"].iloc[0] == pd.Timestamp("2026-05-01")


def test_timestamps_are_normalised_to_midnight_and_timezone_free(root):
    _land(root, "2026-05-01", "date,x\n2026-05-01T13:45:00,1\n")
    _land(root, "2026-05-02", "date,x\n2026-05-02T23:30:00+02:00,2\n")
    frame = read_files(root, "csv", "date", D, date(2026, 5, 3))
    assert list(frame["date"]) == [pd.Timestamp("2026-05-01"), pd.Timestamp("2026-05-02")]
    assert frame["date"].dt.tz is None


# --- files: errors name the file ----------------------------------------------------------------


def test_a_missing_folder_is_a_source_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceError, match="expected a folder of date partitions") as info:
        read_files(missing, "csv", "date", D, date(2026, 5, 2))
    assert str(missing) in str(info.value)


def test_a_corrupt_csv_is_a_source_error_naming_the_file(root):
    path = _land(root, "2026-05-01", 'date,x\n"2026-05-01,1\n')  # an unterminated quote
    with pytest.raises(SourceError) as info:
        read_files(root, "csv", "date", D, date(2026, 5, 2))
    assert str(path) in str(info.value)
    assert "cannot be read as csv" in str(info.value)


@pytest.mark.parametrize(
    ("content", "name", "fmt", "message"),
    [
        pytest.param("date,x\n2026-05-01,1\n2026-05-01,2,3\n", "part-0.csv", "csv", "cannot be read as csv", id="ragged-csv-row"),
        pytest.param(b"PAR1 this is not really parquet", "part-0.parquet", "parquet", "cannot be read as parquet", id="corrupt-parquet"),
        pytest.param("date,weather\n2026-05-01,brouillard léger\n".encode("latin-1"), "part-0.csv", "csv", "not UTF-8", id="non-utf8"),
        pytest.param("date,x\n2026-05-01,1\nyesterday,2\n", "part-0.csv", "csv", "not a date", id="not-a-date"),
    ],
)
def test_an_unreadable_file_is_a_source_error_naming_the_file(root, content, name, fmt, message):
    path = _land(root, "2026-05-01", content, name=name)
    with pytest.raises(SourceError, match=message) as info:
        read_files(root, fmt, "date", D, date(2026, 5, 2))
    assert str(path) in str(info.value)


def test_a_missing_date_column_is_a_source_error_naming_the_file_and_the_columns(root):
    path = _land(root, "2026-05-01", "day,x\n2026-05-01,1\n")
    with pytest.raises(SourceError) as info:
        read_files(root, "csv", "date", D, date(2026, 5, 2))
    message = str(info.value)
    assert str(path) in message
    assert "'date'" in message and "['day', 'x']" in message


def test_the_error_names_the_bad_file_not_the_first_file(root):
    _land(root, "2026-05-01", "date,x\n2026-05-01,1\n")
    bad = _land(root, "2026-05-02", "x\n1\n")
    with pytest.raises(SourceError) as info:
        read_files(root, "csv", "date", D, date(2026, 5, 3))
    assert str(bad) in str(info.value)
    assert "2026-05-01" not in str(info.value).replace(str(bad), "")


def test_read_files_refuses_rows_dated_outside_their_partition(root):
    """A row in the wrong date folder would silently land in the wrong partition: refuse it, naming the file."""
    bad = _land(root, "2026-05-01", "date,x\n2026-05-01,1\n2026-05-09,2\n")
    with pytest.raises(SourceError) as info:
        read_files(root, "csv", "date", D, date(2026, 5, 2))
    assert str(bad) in str(info.value) and "2026-05-09" in str(info.value)


# --- normalise_dates ------------------------------------------------------------------------------


def test_normalise_dates_does_not_modify_its_input():
    frame = pd.DataFrame({"date": ["2026-05-01T10:00:00"], "x": [1]})
    out = normalise_dates(frame, "date", "here")
    assert frame["date"].iloc[0] == "2026-05-01T10:00:00"
    assert out["date"].iloc[0] == pd.Timestamp("2026-05-01")


def test_normalise_dates_names_where_the_data_came_from():
    with pytest.raises(SourceError, match=r"^my-source: expected a date column 'd'"):
        normalise_dates(pd.DataFrame({"x": [1]}), "d", "my-source")


# --- SQL ------------------------------------------------------------------------------------------


@pytest.fixture
def db():
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (d TEXT, v REAL)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [("2026-04-30", 0.0), ("2026-05-01", 1.0), ("2026-05-02", 2.0), ("2026-05-03", 3.0)])
    yield connection
    connection.close()


def test_read_sql_binds_start_inclusive_and_end_exclusive(db):
    frame = read_sql(db, "SELECT d, v FROM t WHERE d >= :start AND d < :end ORDER BY d", "d", D, date(2026, 5, 3), "t")
    assert list(frame["v"]) == [1.0, 2.0]
    assert list(frame["d"]) == [pd.Timestamp("2026-05-01"), pd.Timestamp("2026-05-02")]


def test_a_failing_query_is_a_source_error_naming_the_source(db):
    with pytest.raises(SourceError, match=r"^model_x: the query failed: .*no such table"):
        read_sql(db, "SELECT * FROM missing WHERE d >= :start AND d < :end", "d", D, date(2026, 5, 3), "model_x")


def test_a_query_without_the_date_column_is_a_source_error(db):
    with pytest.raises(SourceError, match=r"expected a date column 'd'"):
        read_sql(db, "SELECT v FROM t WHERE d >= :start AND d < :end", "d", D, date(2026, 5, 3), "model_x")


def test_a_file_without_a_declared_column_is_refused_naming_the_file_and_the_column(root):
    from include.errors import SourceDataError

    path = _land(root, "2026-05-01", "date,x\n2026-05-01,1\n")
    with pytest.raises(SourceDataError, match=r"missing \['y'\]") as info:
        read_files(root, "csv", "date", D, date(2026, 5, 2), columns=["date", "x", "y"])
    assert str(path) in str(info.value) and info.value.days == [D] and info.value.files == [path]


@pytest.mark.parametrize(
    ("content", "found"),
    [("date,x\n2026-05-01,1\n2026-05-01", "Expected 2 columns, got 1"), ("date,x\n2026-05-01,1,7\n", "Expected 2 columns, got 3")],
    ids=["truncated-last-row", "row-with-an-extra-field"],
)
def test_a_row_with_the_wrong_number_of_fields_is_refused_not_padded(root, content, found):
    _land(root, "2026-05-01", content)
    with pytest.raises(SourceError, match=found):
        read_files(root, "csv", "date", D, date(2026, 5, 2))
