"""Which days of data a run owns: one rule for every way a run starts (README, "Which data a run owns").

A run owns whole UTC days ``[start, end)``:

1. a day named in the run's ``day`` Param (trigger form, ``--conf``, the REST API's ``conf``): that day,
   if it is complete when the run was triggered (before the UTC day of ``run_after``); any other day is
   refused. Only a manual run may name one: a backfill names its days with its date range.
2. a scheduled or backfill run: the days of the data interval Airflow gave it (``@daily``: the day of its
   logical date).
3. any other run (manual from the form, the CLI or the REST API, started by an Asset event): the latest
   complete day before its logical date, or, without one, before it was triggered (``run_after``).

Rule 3 reads a manual run's logical date itself instead of its data interval, because Airflow 3.3 infers
that interval from the logical date in the REST API and ``dag.test()`` but from the trigger time in
``airflow dags trigger`` (apache/airflow#54119): the same logical date gave two different days.
Pure: no Airflow, no clock; the caller passes what the run knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from include.errors import RunWindowError

# A backfill and a scheduled run have a data interval of their own; other run types get rule 3.
INTERVAL_RUN_TYPES = ("scheduled", "backfill")


@dataclass(frozen=True)
class RunWindow:
    """The days ``[start, end)`` a run owns, and which part of the rule gave them (``basis``)."""

    start: date
    end: date
    basis: str

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    @property
    def label(self) -> str:
        """``2026-06-19``, or ``2026-06-01..2026-06-07`` for several days (inclusive)."""
        last = self.end - timedelta(days=1)
        return self.start.isoformat() if last == self.start else f"{self.start.isoformat()}..{last.isoformat()}"

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.label, "basis": self.basis}


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware datetime (a naive one is taken as UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def parse_day(value, where: str = "day") -> date | None:
    """The ``day`` Param as a date: None when not set; a ``RunWindowError`` naming the value otherwise."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null")):
        return None
    if isinstance(value, datetime):
        return utc_day(value)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise RunWindowError(f"{where}: expected a day as YYYY-MM-DD (e.g. 2026-06-19), found {value!r}") from None


def run_window(
    *,
    run_type: str,
    run_after: datetime,
    logical_date: datetime | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
    day=None,
) -> RunWindow:
    """The days a run owns (module docstring), or ``RunWindowError`` saying why not and which days are allowed.

    ``run_type`` is Airflow's value (``scheduled``, ``backfill``, ``manual``, ``asset_triggered``, ...);
    ``run_after`` the moment the run was triggered or due; ``day`` the run's ``day`` Param.
    """
    named = parse_day(day)
    if named is not None:
        if run_type != "manual":
            raise RunWindowError(
                f"day {named} was named for a {run_type} run; only a manual run names its day "
                f"(a backfill's days are its --from-date..--to-date range). Leave day empty."
            )
        latest = utc_day(run_after) - timedelta(days=1)
        if named > latest:
            raise RunWindowError(
                f"day {named} is not complete: the run was triggered at {run_after.isoformat()}, when the latest complete "
                f"UTC day was {latest}. Allowed days: {latest} or earlier. A day's data is owned once the day has ended (UTC)."
            )
        return RunWindow(named, named + timedelta(days=1), f"day {named} named in the run's conf")
    if run_type in INTERVAL_RUN_TYPES and data_interval is not None and all(data_interval):
        start, end = utc_day(data_interval[0]), utc_day(data_interval[1])
        if end <= start:
            raise RunWindowError(
                f"the {run_type} run's data interval {data_interval[0].isoformat()}..{data_interval[1].isoformat()} holds no whole "
                f"UTC day: a model's schedule must be daily or longer (the spec's schedule)"
            )
        return RunWindow(start, end, f"{run_type} run: its data interval")
    if logical_date is not None:
        end = utc_day(logical_date)
        return RunWindow(end - timedelta(days=1), end, f"{run_type} run: the latest complete day before its logical date {logical_date.isoformat()}")
    end = utc_day(run_after)
    return RunWindow(end - timedelta(days=1), end, f"{run_type} run: the latest complete day before it was triggered ({run_after.isoformat()})")
