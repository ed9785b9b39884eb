"""The rule for which days a run owns (include/run_window.py), for every way a run starts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from include.errors import RunWindowError
from include.run_window import RunWindow, parse_day, run_window


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Triggered on 2026-12-01 at 04:35 UTC: the latest complete day is 2026-11-30.
NOW = utc(2026, 12, 1, 4, 35)
LATEST = date(2026, 11, 30)


def owned(**run) -> tuple[date, date]:
    window = run_window(**run)
    return window.start, window.end


def test_a_scheduled_run_owns_its_data_interval():
    # @daily: the run for 2026-11-30 is due at midnight and owns the day of its logical date.
    assert owned(run_type="scheduled", run_after=utc(2026, 12, 1), logical_date=utc(2026, 11, 30), data_interval=(utc(2026, 11, 30), utc(2026, 12, 1))) == (LATEST, date(2026, 12, 1))
    # A cron at 02:00 still owns whole UTC days.
    assert owned(run_type="scheduled", run_after=utc(2026, 12, 1, 2), logical_date=utc(2026, 11, 30, 2), data_interval=(utc(2026, 11, 30, 2), utc(2026, 12, 1, 2))) == (LATEST, date(2026, 12, 1))


def test_each_day_of_a_backfill_owns_its_own_interval_and_a_weekly_one_its_week():
    for day in (date(2026, 6, 8), date(2026, 6, 9)):
        start = utc(day.year, day.month, day.day)
        window = run_window(run_type="backfill", run_after=start + timedelta(days=1), logical_date=start, data_interval=(start, start + timedelta(days=1)))
        assert window.days == [day] and window.basis == "backfill run: its data interval"
    weekly = run_window(run_type="scheduled", run_after=utc(2026, 6, 8), logical_date=utc(2026, 6, 1), data_interval=(utc(2026, 6, 1), utc(2026, 6, 8)))
    assert len(weekly.days) == 7 and weekly.label == "2026-06-01..2026-06-07"


def test_a_schedule_shorter_than_a_day_is_refused_with_the_reason():
    with pytest.raises(RunWindowError, match="holds no whole UTC day: a model's schedule must be daily or longer"):
        run_window(run_type="scheduled", run_after=utc(2026, 6, 1, 5), logical_date=utc(2026, 6, 1, 4), data_interval=(utc(2026, 6, 1, 4), utc(2026, 6, 1, 5)))


@pytest.mark.parametrize("run_type", ["manual", "asset_triggered"])
def test_a_run_without_a_logical_date_owns_the_latest_complete_day_before_it_was_triggered(run_type):
    window = run_window(run_type=run_type, run_after=NOW)
    assert (window.start, window.end) == (LATEST, date(2026, 12, 1)), window
    assert "latest complete day before it was triggered" in window.basis
    # Triggered a second after midnight: the day that just ended.
    assert owned(run_type=run_type, run_after=utc(2026, 12, 1, 0, 0, 1)) == (LATEST, date(2026, 12, 1))


def test_a_manual_run_with_a_logical_date_owns_the_latest_complete_day_before_it_whatever_its_data_interval():
    # The REST API and dag.test() infer [11-30, 12-01) from this logical date; `airflow dags trigger` infers the
    # interval from the trigger time (here a week later). Both runs own the same day: the rule reads the logical date.
    logical = utc(2026, 12, 1)
    rest = owned(run_type="manual", run_after=logical, logical_date=logical, data_interval=(utc(2026, 11, 30), logical))
    cli = owned(run_type="manual", run_after=utc(2026, 12, 8, 9), logical_date=logical, data_interval=(utc(2026, 12, 7), utc(2026, 12, 8)))
    assert rest == cli == (LATEST, date(2026, 12, 1))
    # The UI form fills in "now": the latest complete day, as without a logical date.
    assert owned(run_type="manual", run_after=NOW, logical_date=NOW) == (LATEST, date(2026, 12, 1))


def test_a_named_past_day_is_owned_by_a_manual_run_whatever_its_logical_date():
    assert owned(run_type="manual", run_after=NOW, day="2026-06-19") == (date(2026, 6, 19), date(2026, 6, 20))
    assert owned(run_type="manual", run_after=NOW, logical_date=utc(2026, 8, 1), day=date(2026, 6, 19)) == (date(2026, 6, 19), date(2026, 6, 20))
    # The latest complete day may be named; so may any earlier one.
    window = run_window(run_type="manual", run_after=NOW, day=LATEST.isoformat())
    assert window.days == [LATEST] and window.basis == f"day {LATEST} named in the run's conf"


@pytest.mark.parametrize("day", ["2026-12-01", "2026-12-02", "2027-01-01"])
def test_a_day_not_yet_complete_is_refused_saying_why_and_which_days_are_allowed(day):
    with pytest.raises(RunWindowError) as refused:
        run_window(run_type="manual", run_after=NOW, day=day)
    message = str(refused.value)
    assert f"day {day} is not complete" in message, message
    assert "Allowed days: 2026-11-30 or earlier" in message and NOW.isoformat() in message, message


def test_only_a_manual_run_names_its_day():
    with pytest.raises(RunWindowError, match="only a manual run names its day .*--from-date"):
        run_window(run_type="backfill", run_after=utc(2026, 6, 9), logical_date=utc(2026, 6, 8), data_interval=(utc(2026, 6, 8), utc(2026, 6, 9)), day="2026-06-01")


@pytest.mark.parametrize("value", ["", "None", None, "null"])
def test_an_empty_day_is_no_day(value):
    assert parse_day(value) is None


@pytest.mark.parametrize("value", ["19/06/2026", "2026-02-30", "yesterday"])
def test_a_malformed_day_is_refused_naming_the_value(value):
    with pytest.raises(RunWindowError, match=f"expected a day as YYYY-MM-DD .*found {value!r}"):
        run_window(run_type="manual", run_after=NOW, day=value)


def test_a_window_records_what_it_owns_and_why():
    window = RunWindow(date(2026, 6, 1), date(2026, 6, 8), "scheduled run: its data interval")
    assert window.to_dict() == {"start": "2026-06-01", "end": "2026-06-08", "days": "2026-06-01..2026-06-07", "basis": "scheduled run: its data interval"}
    # An aware datetime in another zone is read as its UTC day.
    from datetime import timedelta as td

    late_evening = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(td(hours=-5)))  # 04:30 UTC on 12-01
    assert owned(run_type="manual", run_after=late_evening) == (LATEST, date(2026, 12, 1))
