"""The trigger form of a model DAG: Airflow Params with titles and descriptions.

Scheduled runs and backfills use the defaults, so only an operator who opens the
form changes what a run does. Overrides are limited to what the model YAML lists
under ``overrides``; the JSON schema refuses anything else before the run starts.
"""

from __future__ import annotations

from airflow.sdk import Param

from include.spec import ModelSpec

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _override_schema(spec: ModelSpec) -> dict:
    properties = {}
    for name in spec.overrides:
        default = spec.estimator.params[name]
        kind = _JSON_TYPES.get(type(default), "string")
        # An int stands for a float in the form too (learning_rate: 0.1 or 1).
        properties[name] = {"type": ["number", "integer"] if kind == "number" else kind, "description": f"YAML default: {default!r}"}
    return properties


def run_params(spec: ModelSpec) -> dict[str, Param]:
    """Params of one model DAG, in the order the form shows them."""
    allowed = ", ".join(f"`{name}` (default {spec.estimator.params[name]!r})" for name in spec.overrides) or "none"
    return {
        # The one way to name a day (form, `airflow dags trigger --conf`, REST conf): a plain UTC day, unlike the
        # logical date (a timestamp, unique per DAG, which Airflow never starts while it is in the future).
        "day": Param(
            None, type=["null", "string"], format="date", pattern=r"^\d{4}-\d{2}-\d{2}$", title="Day (UTC)",
            description="Train on this day's data (YYYY-MM-DD, a day that has ended in UTC). Empty: the latest complete day. "
            "A day not yet complete fails the run at once, saying which days are allowed.",
        ),
        # Optional: null, so that the form does not insist on it (scheduled runs have none).
        "reason": Param(
            None, type=["null", "string"], maxLength=500, title="Reason",
            description="Why you start this run. Recorded on the MLflow run and model version (tag trigger_reason) for the audit trail.",
        ),
        "force_retrain": Param(
            False, type="boolean", title="Force retraining",
            description="Train even if a model with the same data, config and code is registered.",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run",
            description="Ingest, validate, train and evaluate, but promote and deploy nothing. The version is tagged dry_run=true and "
            "never reused to skip a later training.",
        ),
        "skip_deploy": Param(
            False, type="boolean", title="Skip deployment",
            description="Promote as usual but leave the model server as it is (deploy later with a normal run).",
        ),
        "allow_older_champion": Param(
            False, type="boolean", title="Allow an older day's model to become champion",
            description="Backfills train on past days; by default a model trained on data older than the champion's is never promoted. "
            "Tick this to allow it for this run.",
        ),
        "overrides": Param(
            {}, type="object", title="Estimator overrides", properties=_override_schema(spec), additionalProperties=False,
            description=f"JSON object of estimator params for this run only; the model YAML allows: {allowed}. "
            "Overrides change the training fingerprint, so they always train.",
        ),
    }
