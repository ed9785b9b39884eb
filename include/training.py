"""Training: fit the spec's pipeline on a snapshot, log one MLflow run, register a version.

The version is registered with all its lineage tags at creation and gets the
``challenger`` alias; promotion is a separate, later decision.
This file is part of the training fingerprint: editing it retrains every model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import metadata

import pandas as pd

from include.errors import RegistryError
from include.evaluation import compute_metrics
from include.preprocessing import build_pipeline, features_and_target, split_holdout
from include.registry import CHALLENGER, Registry, quiet_skops
from include.spec import ModelSpec
from include.training_recovery import COMPLETE_TAG, TRAINING_KEY, resume_or_clean

# Trusted when loading skops files: only types from these packages (never arbitrary code).
TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
# Written into the model's requirements explicitly: inferring them costs ~4 s per model.
SERVING_PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "skops", "pyarrow")


@dataclass(frozen=True)
class TrainingResult:
    version: str
    run_id: str
    train_rows: int
    holdout_rows: int
    holdout_metrics: dict

    def to_dict(self) -> dict:
        return asdict(self)


def trusted_types(model) -> list[str]:
    """Types skops must trust to load this model, refusing anything outside the allow-list."""
    import skops.io

    with quiet_skops():
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    outside = [t for t in untrusted if not t.startswith(TRUSTED_TYPE_PREFIXES)]
    if outside:
        raise RegistryError(f"the fitted model contains types skops would have to trust outside {TRUSTED_TYPE_PREFIXES}: {outside}")
    return untrusted


def pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in SERVING_PACKAGES]


def train_and_register(
    spec: ModelSpec,
    snapshot: pd.DataFrame,
    data: dict,
    fingerprint: dict,
    lineage: dict,
    registry: Registry,
) -> TrainingResult:
    """Fit on the snapshot minus its holdout, log everything to MLflow, register as challenger.

    ``data`` holds the snapshot's DVC md5 and remote, ``fingerprint`` the output of
    ``compute_fingerprint``, ``lineage`` where the run came from (Airflow run id,
    git commit, validation report).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    registry.activate()
    train, holdout = split_holdout(snapshot, spec.source.date_column, spec.evaluation.holdout_fraction)
    x_train, y_train = features_and_target(train, spec)
    x_holdout, y_holdout = features_and_target(holdout, spec)

    libraries = fingerprint["parts"]["libraries"]
    version_tags = {
        "fingerprint": fingerprint["fingerprint"],
        "data_md5": data["md5"],
        "data_remote": data.get("remote", ""),
        "git_commit": lineage.get("git_commit", "unknown"),
        "airflow_dag_id": lineage.get("dag_id", ""),
        "airflow_run_id": lineage.get("run_id", ""),
        "validation_report": lineage.get("validation_report", ""),
        "owner": spec.owner.team,
        "data_interval_end": lineage.get("data_interval_end", ""),
        # Who asked for this run and why (trigger form), and the last day of data it saw.
        **lineage.get("audit", {}),
    }
    if lineage.get("retrain_reason"):  # set when the monitoring DAG triggered this run (drift, live quality)
        version_tags["retrain_reason"] = lineage["retrain_reason"][:5000]
    key = lineage.get(TRAINING_KEY, "")
    if key:
        version_tags[TRAINING_KEY] = key
    registry.ensure_registered_model(spec.name, spec.description, {"owner": spec.owner.team, "task": spec.task})
    experiment_id = registry.experiment_id(spec.name)
    done = resume_or_clean(registry, spec.name, experiment_id, key) if key else None
    if done is not None:
        # An earlier try of this Airflow run completed the version and died before returning.
        registry.set_alias(spec.name, CHALLENGER, done["version"])
        metrics = registry.client.get_run(done["run_id"]).data.metrics
        holdout = {k.removeprefix("holdout_"): v for k, v in metrics.items() if k.startswith("holdout_")}
        return TrainingResult(done["version"], done["run_id"], len(train), len(x_holdout), holdout)
    # The fit happens inside the run: a try killed mid-fit leaves a RUNNING run the next try closes. The next try
    # finds it by its training_key, so the key is on the run from its start, not only after the fit.
    with mlflow.start_run(experiment_id=experiment_id, run_name=lineage.get("run_id") or "manual", tags={TRAINING_KEY: key} if key else None) as run:
        model = build_pipeline(spec)
        model.fit(x_train, y_train)
        train_metrics = compute_metrics(spec.evaluation.metrics, y_train, model.predict(x_train))
        holdout_metrics = compute_metrics(spec.evaluation.metrics, y_holdout, model.predict(x_holdout))
        mlflow.set_tags({**version_tags, **{f"lib.{k}": v for k, v in libraries.items()}, "code_sha256": fingerprint["parts"]["code_sha256"]})
        mlflow.log_params(
            {
                "estimator": spec.estimator.class_,
                **{f"estimator.{k}": v for k, v in spec.estimator.params.items()},
                "features": ",".join(spec.features.all),
                "target": spec.target,
                "window_days": spec.window_days,
                "holdout_fraction": spec.evaluation.holdout_fraction,
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "data_md5": data["md5"],
            }
        )
        mlflow.log_metrics({**{f"train_{k}": v for k, v in train_metrics.items()}, **{f"holdout_{k}": v for k, v in holdout_metrics.items()}})
        mlflow.log_dict(fingerprint, "lineage/fingerprint.json")
        mlflow.log_dict(json.loads(spec.model_dump_json(by_alias=True)), "lineage/model_spec.json")
        example = x_holdout.head(spec.deploy.smoke_rows)
        with quiet_skops():  # MLflow saves with skops, then loads the model back to check the input example
            info = mlflow.sklearn.log_model(
            model,
                name="model",
                signature=infer_signature(example, model.predict(example)),
                input_example=example,
                pip_requirements=pip_requirements(),
                serialization_format="skops",
                skops_trusted_types=trusted_types(model),
            )
    mv = mlflow.register_model(info.model_uri, spec.name, tags={**version_tags, "run_id": run.info.run_id})
    # Complete before any alias points at it: a try killed before this line leaves a version the retry deletes.
    registry.tag_version(spec.name, mv.version, {COMPLETE_TAG: "true"})
    if lineage.get("audit", {}).get("dry_run") != "true":
        # A dry run's version is evaluated but must not look like the next candidate.
        registry.set_alias(spec.name, CHALLENGER, mv.version)
    return TrainingResult(str(mv.version), run.info.run_id, len(train), len(holdout), holdout_metrics)
