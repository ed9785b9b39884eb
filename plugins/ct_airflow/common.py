"""Small things every operator needs: the spec, the run's identity, and error translation."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from functools import lru_cache

from include.errors import DataValidationError, PartitionConflictError, QualityGateError, RunWindowError, SpecError


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


def owned_window(context):
    """The days this run owns (``include/run_window.py``: one rule for every kind of run), from its context.

    Every task asks this, never ``data_interval_*`` directly: Airflow 3 leaves those out of the context of a
    run without a logical date, and a CLI-triggered run's interval ignores its logical date.
    """
    from include.run_window import run_window

    dag_run = context["dag_run"]
    run_type = getattr(dag_run, "run_type", "")
    start, end = getattr(dag_run, "data_interval_start", None), getattr(dag_run, "data_interval_end", None)
    with verdicts_are_final():
        return run_window(
            run_type=str(getattr(run_type, "value", run_type)),
            run_after=dag_run.run_after,
            logical_date=getattr(dag_run, "logical_date", None),
            data_interval=(start, end) if start is not None and end is not None else None,
            day=(context.get("params") or {}).get("day"),
        )


def run_key(context) -> str:
    """A filesystem-safe name for this run (reports, quarantine)."""
    run_id = context["run_id"]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def is_set(value) -> bool:
    """A rendered boolean Param (native bool, or its string when rendered as text)."""
    return str(value).strip().lower() in ("true", "1", "yes")


def data_until(context) -> str:
    """Where this run's data ends, as an ISO date: the day after the last day it owns (the end is exclusive)."""
    return owned_window(context).end.isoformat()


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
        # The days the run owns, inclusive: "2026-06-19" or "2026-06-01..2026-06-07".
        "data_days": owned_window(context).label,
    }


def lineage(context) -> dict:
    import logging

    from ct_airflow.assets import retrain_reason
    from include.lineage import git_commit

    window_end = owned_window(context).end
    found = {
        "dag_id": context["dag"].dag_id, "run_id": context["run_id"], "git_commit": git_commit(),
        # Midnight UTC after the last day the run owns; a scheduled run's own data_interval_end for a midnight cron.
        "data_interval_end": datetime.combine(window_end, datetime.min.time(), tzinfo=UTC).isoformat(),
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
    except (DataValidationError, QualityGateError, SpecError, PartitionConflictError, RunWindowError) as exc:
        raise AirflowFailException(str(exc)) from exc
