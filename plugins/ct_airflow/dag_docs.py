"""What the Airflow UI shows about a model DAG, generated from its YAML: the DAG page and each task's doc."""

from __future__ import annotations

from pathlib import Path

from include.settings import MODELS_DIR, Settings
from include.spec import ModelSpec


def _bound(metric: str, bound) -> str:
    parts = [f"≥ {bound.min}" if bound.min is not None else "", f"≤ {bound.max}" if bound.max is not None else ""]
    return f"{metric} {' and '.join(p for p in parts if p)}"


def thresholds_text(spec: ModelSpec) -> str:
    return ", ".join(_bound(metric, bound) for metric, bound in spec.evaluation.thresholds.items()) or "none"


def served_at(spec: ModelSpec) -> str:
    return f"{Settings.from_env().serving_url}/models/{spec.name}/invocations"


def dag_doc(spec: ModelSpec, path: Path) -> str:
    """The DAG's page in the UI: what the model is, who owns it, how it is judged, where it is served."""
    source = f"files under `{spec.source.path}`" if spec.source.kind == "files" else f"SQL over connection `{spec.source.conn_id}`"
    root = MODELS_DIR.parent.parent
    overrides = ", ".join(f"`{name}`" for name in spec.overrides) or "none"
    return f"""### {spec.name}

{spec.description}

| | |
|---|---|
| owner | {spec.owner.team} {spec.owner.email or ''} |
| task | {spec.task}: `{spec.target}` from {', '.join(f'`{f}`' for f in spec.features.all)} |
| estimator | `{spec.estimator.class_}` {spec.estimator.params} |
| source | {source}, {spec.window_days}-day window |
| thresholds | {thresholds_text(spec)}; promote when `{spec.evaluation.primary_metric}` beats the champion by ≥ {spec.evaluation.promotion_margin} |
| served at | `{served_at(spec)}` ({spec.deploy.target}) |
| alerts | connection `{spec.alerts.conn_id}`; deadline {spec.alerts.deadline_minutes} min after queueing |
| spec | `{path.relative_to(root) if path.is_relative_to(root) else path}` |

A run owns whole UTC days: a scheduled or backfill run its data interval, any other run the latest complete day,
unless the trigger form names a past **day** (README, "Which data a run owns").
Training is skipped when the data, training config, code and libraries are unchanged
(trigger with **force_retrain** to train anyway). The trigger form also offers **dry_run**
(train and evaluate, promote and deploy nothing), **skip_deploy**, a **reason** recorded in the
MLflow audit tags, and estimator **overrides** ({overrides}).
Backfills never let an older day's model replace a newer champion unless **allow_older_champion** is set.
"""


def task_docs(spec: ModelSpec) -> dict[str, str]:
    """Each task's doc, with this model's own numbers in it."""
    columns = ", ".join(f"`{c}`" for c in spec.expectations.columns)
    return {
        "ingest": f"Reads the days the run owns (XCom `run_window`: which days, and why) from the source (`{spec.source.kind}`) into "
        f"immutable daily partitions and builds the {spec.window_days}-day snapshot. A **day** not yet complete fails here, at once.",
        "version_snapshot": "`dvc add` + `dvc push` of the snapshot; its md5 identifies the training data everywhere.",
        "validate": f"Great Expectations suite from the model spec: columns {columns}; at least {spec.expectations.min_rows} rows in the window, "
        f"{spec.expectations.batch_min_rows} per batch. On failure the batch is quarantined and nothing downstream runs.",
        "fingerprint": "Skips training when a loadable version with the same fingerprint (data md5, config, code, libraries) exists.",
        "train": f"Fits `{spec.estimator.class_}` in one MLflow run; registers a new version of `{spec.name}` with the alias `challenger`.",
        "evaluate": f"Challenger vs champion on the same {spec.evaluation.holdout_fraction:.0%} holdout. Thresholds: {thresholds_text(spec)}; "
        f"margin {spec.evaluation.promotion_margin} on `{spec.evaluation.primary_metric}`. Logs plots and the model card to MLflow.",
        "promote": "Moves the `champion` alias (the former champion becomes `previous`); skipped when the challenger is rejected, "
        "on a dry run, or when the challenger was trained on older data than the champion.",
        "deploy": f"Serves the champion at `{served_at(spec)}`; health and smoke checks; rolls back to the previous version on failure.",
    }
