"""What a killed training try left behind, found by its ``training_key`` (the DAG run, not the try).

A worker can die anywhere inside training: during the fit (an MLflow run left RUNNING), after the
version was registered but before it was complete, or after it was complete but before the
``challenger`` alias moved. The next try of the same DAG run calls :func:`resume_or_clean` first:
a complete version is reused (so the run still yields exactly one version), anything half-written
is removed (its version deleted, its run marked FAILED), so that no alias can ever point at it.
"""

from __future__ import annotations

from include.registry import Registry

TRAINING_KEY = "training_key"
# Set on a version once its model is registered and READY; only then does an alias point at it.
COMPLETE_TAG = "training_complete"


def resume_or_clean(registry: Registry, model: str, experiment_id: str, key: str) -> dict | None:
    """The completed training of ``key`` (``version``, ``run_id``) or None after removing partial leftovers."""
    from mlflow.entities import RunStatus

    client = registry.client
    complete = None
    for ref in registry.versions_tagged(model, TRAINING_KEY, key):
        if complete is None and ref.tags.get(COMPLETE_TAG) == "true":
            complete = ref
            continue
        # Registered, never completed: the try died between register_model and the completion tag.
        registry.delete_version(model, ref.version)
    runs = client.search_runs([experiment_id], filter_string=f"tags.{TRAINING_KEY} = '{key}'")
    for run in runs:
        if complete is not None and run.info.run_id == complete.run_id:
            continue
        if run.info.status in ("RUNNING", "SCHEDULED"):
            client.set_tag(run.info.run_id, "killed_try", "a later try of the same Airflow run found this run unfinished")
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    if complete is None:
        return None
    return {"version": complete.version, "run_id": complete.run_id}
