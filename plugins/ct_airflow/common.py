"""Small things every operator needs: the spec, the run's identity, and error translation."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timezone
from functools import lru_cache

from include.errors import DataValidationError, PartitionConflictError, QualityGateError, SpecError


@lru_cache(maxsize=64)
def model_spec(path: str):
    from include.spec import load_spec

    return load_spec(path)


def as_day(value) -> date:
    """A rendered data-interval bound (datetime or ISO string) as a UTC calendar day."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        # Partitions are UTC days.
        return (value.astimezone(timezone.utc) if value.tzinfo else value).date()
    return value


def run_key(context) -> str:
    """A filesystem-safe name for this run (reports, quarantine)."""
    run_id = context["run_id"]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def lineage(context) -> dict:
    import logging

    from ct_airflow.assets import retrain_reason
    from include.lineage import git_commit

    interval_end = context.get("data_interval_end")
    found = {
        "dag_id": context["dag"].dag_id, "run_id": context["run_id"], "git_commit": git_commit(),
        "data_interval_end": interval_end.isoformat() if hasattr(interval_end, "isoformat") else str(interval_end or ""),
        # The same for every try of the task: a retry finds what an earlier, killed try left behind.
        "training_key": f"{context['dag'].dag_id}/{context['run_id']}",
    }
    # A run the monitoring DAG asked for carries its reason onto the MLflow run and the version.
    reason = retrain_reason(context.get("triggering_asset_events"))
    if reason:
        logging.getLogger(__name__).warning("Retraining requested by an asset event: %s", reason)
        found["retrain_reason"] = reason
    return found


@contextlib.contextmanager
def verdicts_are_final():
    """A verdict about data or a model is not a transient fault: fail without retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (DataValidationError, QualityGateError, SpecError, PartitionConflictError) as exc:
        raise AirflowFailException(str(exc)) from exc
