"""Ingestion: immutable daily partitions and the rolling-window snapshot built from them."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.demo_data import PENGUINS_DB, SEATTLE_DIR
from include.errors import PartitionConflictError, SourceError
from include.ingest import day_range, ingest_window, partition_path
from include.sources import read_files, read_sql
from include.spec import load_spec

D = date(2026, 3, 10)
COLUMNS = {"date": "datetime64[us]", "value": "float64", "label": "str"}


class FakeSource:
    """An upstream system in memory: ``rows[day]`` is a list of (value, label); records every read."""

    def __init__(self, rows: dict[date, list[tuple[float, str]]]):
        self.rows = rows
        self.calls: list[tuple[date, date]] = []

    def __call__(self, start: date, end: date) -> pd.DataFrame:
        self.calls.append((start, end))
        records = [(pd.Timestamp(day), v, lab) for day, items in sorted(self.rows.items()) if start <= day < end for v, lab in items]
        return pd.DataFrame(records, columns=list(COLUMNS)).astype(COLUMNS)


def _daily(first: date, last: date, per_day: int = 2) -> dict[date, list[tuple[float, str]]]:
    """Rows for every day of [first, last], distinct per day so a changed day is detectable."""
    return {day: [(day.toordinal() + i / 10, f"l{i}") for i in range(per_day)] for day in day_range(first, last + timedelta(days=1))}


@pytest.fixture
def lake(tmp_path) -> Path:
    return tmp_path / "lake" / "my_model"


@pytest.fixture
def snapshot(tmp_path) -> Path:
    return tmp_path / "snapshots" / "my_model.parquet"


def _ingest(source, lake, snapshot, start: date, end: date, window_days: int, schema=None):
    return ingest_window(source, lake, snapshot, "date", start, end, window_days, schema=schema)


def test_first_run_writes_every_partition_of_the_window(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=30), D + timedelta(days=5)))
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=5)

    window = day_range(D - timedelta(days=4), D + timedelta(days=1))
    assert result.partitions_written == [partition_path(lake, d).name for d in window]
    assert sorted(p.name for p in lake.iterdir()) == result.partitions_written
    assert result.batch_days == [D.isoformat()]
    assert result.batch_rows == 2
    assert result.snapshot_rows == 10
    assert (result.window_start, result.window_end) == ((D - timedelta(days=4)).isoformat(), (D + timedelta(days=1)).isoformat())
    # One read covers the whole window, not one read per day.
    assert source.calls == [(window[0], window[-1] + timedelta(days=1))]
    # No temporary files are left next to the partitions.
    assert not list(lake.glob(".*"))


def test_each_partition_holds_exactly_its_day(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=10), D))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    for day in day_range(D - timedelta(days=2), D + timedelta(days=1)):
        part = pd.read_parquet(partition_path(lake, day))
        assert list(part["date"].dt.date.unique()) == [day]
        assert sorted(part["value"]) == sorted(v for v, _ in source.rows[day])


def test_rerunning_the_same_interval_is_byte_identical_and_writes_nothing(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=10), D))
    first = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=4)
    snapshot_bytes = snapshot.read_bytes()
    partitions = {p.name: p.read_bytes() for p in lake.iterdir()}

    again = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=4)

    assert again.partitions_written == []
    assert snapshot.read_bytes() == snapshot_bytes
    assert {p.name: p.read_bytes() for p in lake.iterdir()} == partitions
    assert (again.snapshot_rows, again.batch_rows) == (first.snapshot_rows, first.batch_rows)
    # The window is complete now: only the batch is read again.
    assert source.calls[-1] == (D, D + timedelta(days=1))


def test_the_next_night_adds_one_partition_and_slides_the_window(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=10), D + timedelta(days=1)))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    result = _ingest(source, lake, snapshot, D + timedelta(days=1), D + timedelta(days=2), window_days=3)

    assert result.partitions_written == [partition_path(lake, D + timedelta(days=1)).name]
    days = set(pd.read_parquet(snapshot)["date"].dt.date)
    assert days == {D - timedelta(days=1), D, D + timedelta(days=1)}
    # The oldest partition left the snapshot but is kept in the lake.
    assert partition_path(lake, D - timedelta(days=2)).exists()


def test_a_source_that_changes_a_past_batch_day_is_a_conflict(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=10), D))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    before = partition_path(lake, D).read_bytes()
    snapshot_before = snapshot.read_bytes()

    source.rows[D] = [(99.0, "corrected"), *source.rows[D][1:]]
    with pytest.raises(PartitionConflictError) as info:
        _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)

    assert D.isoformat() in str(info.value)
    assert str(partition_path(lake, D)) in str(info.value)
    # Nothing was overwritten.
    assert partition_path(lake, D).read_bytes() == before
    assert snapshot.read_bytes() == snapshot_before


def test_a_row_added_to_a_past_day_is_a_conflict(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=5), D))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=2)
    source.rows[D].append((1.0, "late"))
    with pytest.raises(PartitionConflictError, match=rf"{D.isoformat()} \(3 rows\)"):
        _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=2)


def test_a_changed_window_day_outside_the_batch_is_not_reread(lake, snapshot):
    # Partitions are immutable: the snapshot keeps what was ingested, the later run does not see the change.
    source = FakeSource(_daily(D - timedelta(days=5), D + timedelta(days=1)))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    old_value = source.rows[D - timedelta(days=1)][0][0]
    source.rows[D - timedelta(days=1)] = [(-1.0, "changed")]

    _ingest(source, lake, snapshot, D + timedelta(days=1), D + timedelta(days=2), window_days=3)

    values = set(pd.read_parquet(snapshot)["value"])
    assert old_value in values and -1.0 not in values


def test_the_snapshot_only_covers_the_window(lake, snapshot):
    # The source has data long before the window and after the interval; none of it may leak in.
    source = FakeSource(_daily(D - timedelta(days=60), D + timedelta(days=30)))
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=7)

    frame = pd.read_parquet(snapshot)
    assert frame["date"].min() == pd.Timestamp(D - timedelta(days=6))
    assert frame["date"].max() == pd.Timestamp(D)
    assert frame["date"].min() >= pd.Timestamp(result.window_start)
    assert frame["date"].max() < pd.Timestamp(result.window_end)
    assert len(frame) == result.snapshot_rows == 14
    assert not partition_path(lake, D + timedelta(days=1)).exists()


def test_the_snapshot_is_sorted_by_date(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=5), D))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=5)
    dates = pd.read_parquet(snapshot)["date"]
    assert dates.is_monotonic_increasing


def test_a_multi_day_interval_owns_every_day(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=5), D + timedelta(days=5), per_day=3))
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=3), window_days=5)
    assert result.batch_days == [(D + timedelta(days=i)).isoformat() for i in range(3)]
    assert result.batch_rows == 9
    assert result.snapshot_rows == 15


def test_empty_days_get_empty_partitions_but_no_rows(lake, snapshot):
    rows = _daily(D - timedelta(days=4), D)
    del rows[D - timedelta(days=2)]  # nothing landed that day
    source = FakeSource(rows)
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=5)

    empty = pd.read_parquet(partition_path(lake, D - timedelta(days=2)))
    assert len(empty) == 0
    assert list(empty.columns) == list(COLUMNS)
    frame = pd.read_parquet(snapshot)
    assert result.snapshot_rows == len(frame) == 8
    assert (D - timedelta(days=2)) not in set(frame["date"].dt.date)


def test_an_empty_batch_day_gives_zero_batch_rows(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=4), D - timedelta(days=1)))
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    assert result.batch_rows == 0
    assert partition_path(lake, D).exists()
    assert result.snapshot_rows == 4


def test_a_window_without_any_data_gives_an_empty_snapshot(lake, snapshot):
    source = FakeSource({})
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    assert result.snapshot_rows == 0
    assert len(pd.read_parquet(snapshot)) == 0
    assert len(result.partitions_written) == 3


@pytest.mark.parametrize("end", [D, D - timedelta(days=1)])
def test_an_empty_interval_is_a_source_error(lake, snapshot, end):
    source = FakeSource(_daily(D - timedelta(days=5), D))
    with pytest.raises(SourceError, match=rf"data interval is empty: start {D} is not before end {end}"):
        _ingest(source, lake, snapshot, D, end, window_days=3)
    assert source.calls == []
    assert not lake.exists() and not snapshot.exists()


def test_an_unreadable_source_writes_nothing(lake, snapshot):
    def broken(start, end):
        raise SourceError("upstream is down")

    with pytest.raises(SourceError, match="upstream is down"):
        _ingest(broken, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    assert not lake.exists() and not snapshot.exists()


# --- partitions independent of what was read with them; the snapshot inside its window ----------


def test_rerunning_an_empty_day_from_a_files_source_is_not_a_conflict(tmp_path, lake, snapshot):
    root = tmp_path / "landing"
    for day in (D - timedelta(days=1), D + timedelta(days=1)):
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_text(f"date,value,label\n{day.isoformat()},1.5,a\n", encoding="utf-8")
    source = lambda start, end: read_files(root, "csv", "date", start, end)
    schema = {"date": "datetime", "value": "float", "label": "str"}
    _ingest(source, lake, snapshot, D + timedelta(days=1), D + timedelta(days=2), window_days=3, schema=schema)

    # A backfill of the day on which nothing landed: the source still has nothing for it.
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=1, schema=schema)
    assert result.partitions_written == []


def test_a_days_partition_does_not_depend_on_the_other_days_read_with_it(tmp_path, lake, snapshot):
    root = tmp_path / "landing"
    for day, count in ((D - timedelta(days=1), "3"), (D, "")):
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_text(f"date,count\n{day.isoformat()},{count}\n", encoding="utf-8")
    source = lambda start, end: read_files(root, "csv", "date", start, end)
    schema = {"date": "datetime", "count": "int"}
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=2, schema=schema)

    again = _ingest(source, lake, snapshot, D - timedelta(days=1), D, window_days=1, schema=schema)
    assert again.partitions_written == []


def test_an_interval_longer_than_the_window_keeps_the_snapshot_inside_the_reported_window(lake, snapshot):
    source = FakeSource(_daily(D - timedelta(days=5), D + timedelta(days=15)))
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=10), window_days=3)
    assert pd.read_parquet(snapshot)["date"].min() >= pd.Timestamp(result.window_start)


# --- real sources ---------------------------------------------------------------------------------


def test_ingest_from_the_demo_seattle_files(demo_sources, lake, snapshot):
    root = demo_sources / SEATTLE_DIR
    spec = load_spec(Path(__file__).resolve().parents[2] / "include" / "models" / "seattle_temp_max.yaml")
    source = lambda start, end: read_files(root, spec.source.format, spec.source.date_column, start, end)
    end = date(2027, 1, 1)  # the demo history ends on 2026-12-31

    result = ingest_window(source, lake, snapshot, spec.source.date_column, end - timedelta(days=1), end, 7)

    frame = pd.read_parquet(snapshot)
    assert result.snapshot_rows == len(frame) == 7  # one weather record per day
    assert len(result.partitions_written) == 7
    assert list(frame["date"].dt.date) == day_range(date(2026, 12, 25), end)
    assert {*spec.features.all, spec.target} <= set(frame.columns)
    assert frame["temp_max"].dtype == "float64"

    again = ingest_window(source, lake, snapshot, spec.source.date_column, end - timedelta(days=1), end, 7)
    assert again.partitions_written == []


def _penguins(demo_sources):
    spec = load_spec(Path(__file__).resolve().parents[2] / "include" / "models" / "penguin_species.yaml")
    connection = sqlite3.connect(demo_sources / PENGUINS_DB)
    return spec, connection


def test_read_sql_on_the_demo_penguins_returns_only_the_interval(demo_sources):
    spec, connection = _penguins(demo_sources)
    start, end = date(2026, 12, 1), date(2026, 12, 27)
    try:
        frame = read_sql(connection, spec.source.query, spec.source.date_column, start, end, "penguin_species")
        (expected,) = connection.execute(
            'SELECT count(*) FROM penguins_raw WHERE "Date Egg" >= ? AND "Date Egg" < ?', (start.isoformat(), end.isoformat())
        ).fetchone()
        (on_end_day,) = connection.execute('SELECT count(*) FROM penguins_raw WHERE "Date Egg" = ?', (end.isoformat(),)).fetchone()
    finally:
        connection.close()

    assert on_end_day > 0, "the demo data should have eggs on the end day, so that end-exclusiveness is tested"
    assert len(frame) == expected > 0
    assert frame["date_egg"].min() >= pd.Timestamp(start)
    assert frame["date_egg"].max() < pd.Timestamp(end)
    assert str(frame["date_egg"].dtype) == "datetime64[us]"
    assert {*spec.features.all, spec.target} <= set(frame.columns)


def test_read_sql_through_sqlalchemy_gives_the_same_rows(demo_sources):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    spec, connection = _penguins(demo_sources)
    start, end = date(2026, 11, 1), date(2027, 1, 1)
    try:
        via_dbapi = read_sql(connection, spec.source.query, "date_egg", start, end, "penguins")
    finally:
        connection.close()
    engine = sqlalchemy.create_engine(f"sqlite:///{demo_sources / PENGUINS_DB}")
    try:
        via_engine = read_sql(engine, spec.source.query, "date_egg", start, end, "penguins")
    finally:
        engine.dispose()
    assert len(via_engine) > 0
    pd.testing.assert_frame_equal(via_engine, via_dbapi, check_dtype=False)


def test_ingest_from_the_demo_penguins_database(demo_sources, lake, snapshot):
    spec, connection = _penguins(demo_sources)
    try:
        source = lambda start, end: read_sql(connection, spec.source.query, "date_egg", start, end, "penguins")
        end = date(2027, 1, 1)
        result = ingest_window(source, lake, snapshot, "date_egg", end - timedelta(days=1), end, 30)
        (expected,) = connection.execute(
            'SELECT count(*) FROM penguins_raw WHERE "Date Egg" >= ? AND "Date Egg" < ?', ("2026-12-02", "2027-01-01")
        ).fetchone()
    finally:
        connection.close()
    assert result.snapshot_rows == len(pd.read_parquet(snapshot)) == expected > 0
    assert len(result.partitions_written) == 30


def test_a_quarantined_day_is_left_out_of_later_windows_until_it_is_rerun(lake, snapshot):
    from include.ingest import quarantine_marker

    source = FakeSource(_daily(D - timedelta(days=10), D + timedelta(days=5)))
    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)
    partition_path(lake, D).unlink()  # validation moved the batch to quarantine ...
    quarantine_marker(lake, D).write_text("{}")  # ... and marked the day

    result = _ingest(source, lake, snapshot, D + timedelta(days=1), D + timedelta(days=2), window_days=3)
    assert result.quarantined_days_left_out == [D.isoformat()]
    assert pd.Timestamp(D) not in set(pd.read_parquet(snapshot)["date"])
    assert not partition_path(lake, D).exists()  # not read again from the source

    rerun = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)  # the date itself: read afresh
    assert partition_path(lake, D).name in rerun.partitions_written


def test_undeclared_columns_of_the_batch_are_reported_and_left_out_of_the_partitions(lake, snapshot):
    class WithExtra(FakeSource):
        def __call__(self, start, end):
            frame = super().__call__(start, end)
            # Upstream added a column on the batch day only; older days have it empty.
            return frame.assign(humidity=[0.8 if d == pd.Timestamp(D) else None for d in frame["date"]])

    source = WithExtra(_daily(D - timedelta(days=3), D))
    schema = {"date": "datetime", "value": "float", "label": "str"}
    result = _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=2, schema=schema)

    assert result.undeclared_columns == ["humidity"]
    assert "humidity" not in pd.read_parquet(partition_path(lake, D)).columns

    quiet = _ingest(source, lake, snapshot, D - timedelta(days=1), D, window_days=2, schema=schema)
    assert quiet.undeclared_columns == []  # present in the read, but empty for that batch


def test_quarantine_keeps_same_named_evidence_of_several_days_apart(tmp_path):
    from include.quarantine import marker_of, quarantine

    evidence = []
    for day in ("2026-03-01", "2026-03-02"):
        (tmp_path / "landing" / f"date={day}").mkdir(parents=True)
        evidence.append(tmp_path / "landing" / f"date={day}" / "part-0.csv")
        evidence[-1].write_text(day)
    partition = tmp_path / "lake" / "date=2026-03-01.parquet"
    partition.parent.mkdir()
    partition.write_bytes(b"rows")

    kept = quarantine([partition], evidence, tmp_path / "quarantine" / "run", "two bad days")

    assert sorted(p.name for p in kept.iterdir()) == ["REASON.txt", "date=2026-03-01.parquet", "date=2026-03-02_part-0.csv", "part-0.csv"]
    assert (kept / "REASON.txt").read_text() == "two bad days\n"
    assert not partition.exists() and "two bad days" in marker_of(partition).read_text()
    assert all(p.exists() for p in evidence)  # the source is never touched


def test_contiguous_ranges():
    from include.ingest import contiguous_ranges

    days = [D, D + timedelta(days=1), D + timedelta(days=2), D + timedelta(days=4)]
    assert contiguous_ranges(days) == [(D, D + timedelta(days=3)), (D + timedelta(days=4), D + timedelta(days=5))]
    assert contiguous_ranges([]) == []


def test_a_quarantined_day_between_needed_days_is_not_read_again(lake, snapshot):
    from include.ingest import quarantine_marker

    source = FakeSource(_daily(D - timedelta(days=10), D + timedelta(days=5)))
    lake.mkdir(parents=True)
    quarantine_marker(lake, D - timedelta(days=1)).write_text("{}")

    _ingest(source, lake, snapshot, D, D + timedelta(days=1), window_days=3)

    assert source.calls == [(D - timedelta(days=2), D - timedelta(days=1)), (D, D + timedelta(days=1))]
