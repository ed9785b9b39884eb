"""The Airflow Assets that link a model's monitoring DAG to its training DAG.

``<model>__monitoring`` emits an event on ``retrain_asset(model)`` when drift or live quality
crosses the model's thresholds (the event's ``extra`` carries the reason); the model's
training DAG is scheduled on its cron OR that asset (``AssetOrTimeSchedule``).
"""

from __future__ import annotations

from airflow.sdk import Asset


def retrain_asset(model: str) -> Asset:
    # An "x-" scheme is ours by Airflow's convention: no provider is asked to normalise it, which would
    # import every provider's asset module (and Airflow's ORM) while the DAG file parses: 0.15 s.
    return Asset(name=f"{model}__retrain", uri=f"x-ct://models/{model}/retrain", group="retraining")


def retrain_reason(triggering_asset_events) -> str:
    """Why an asset-triggered run runs, from its triggering events ('' for a scheduled or manual run)."""
    reasons = []
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            if extra.get("reason"):
                version = extra.get("model_version")
                reasons.append(f"{extra.get('source', 'monitoring')}: {'version ' + str(version) + ': ' if version else ''}{extra['reason']}")
    return " | ".join(reasons)
