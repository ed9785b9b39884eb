"""Small things every operator needs: the spec, the run's identity, and error translation."""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timezone
from functools import lru_cache

from include.errors import DataValidationError, PartitionConflictError, QualityGateError, SpecError


@lru_cache(maxsize=64)
def model_spec(path: str):
    from include.spec import load_spec

    return load_spec(path)


def with_overrides(spec, overrides, context=None):
    """The spec with estimator overrides: the operator's own, else the trigger form's (Param ``overrides``)."""
    if overrides is None:
        overrides = ((context or {}).get("params") or {}).get("overrides")
    if isinstance(overrides, str):
        overrides = json.loads(overrides) if overrides.strip() not in ("", "None") else {}
    with verdicts_are_final():
        return spec.with_overrides(overrides or {})


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


def is_set(value) -> bool:
    """A rendered boolean Param (native bool, or its string when rendered as text)."""
    return str(value).strip().lower() in ("true", "1", "yes")


def data_until(context) -> str:
    """The last day of data this run saw (its data interval end), as an ISO date; '' if it has none."""
    end = context.get("data_interval_end") or context.get("logical_date")
    return as_day(end).isoformat() if end else ""


def audit(context) -> dict[str, str]:
    """Who asked for this run and why: tags on the MLflow run and the model version."""
    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    return {
        "trigger_reason": str(params.get("reason") or "")[:500],
        # The enum's value ("backfill", "manual", "scheduled", "asset_triggered"), not its repr.
        "run_type": str(getattr(getattr(dag_run, "run_type", ""), "value", getattr(dag_run, "run_type", "")) or ""),
        "dry_run": "true" if is_set(params.get("dry_run")) else "false",
        "overrides": json.dumps(params.get("overrides") or {}, sort_keys=True),
        "data_until": data_until(context),
    }


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
        "try_number": getattr(context.get("ti"), "try_number", ""),  # which try a run came from, for the retry's log
        "audit": audit(context),
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
