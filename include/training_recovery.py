"""What a killed training try left behind, found by its ``training_key`` (the DAG run, not the try).

A worker can die anywhere inside training: during the fit (an MLflow run left RUNNING), while the
version was being registered (the run already FINISHED, the version not complete), or after it was
complete but before the ``challenger`` alias moved. The next try of the same DAG run calls
:func:`resume_or_clean` first: a complete version is reused (so the run still yields exactly one
version), anything half-written is removed (its version deleted), and every run of an interrupted
try ends FAILED with ``ct.interrupted=true`` and the reason, so that no alias can ever point at it
and nobody mistakes it for a finished training. What was done is logged, in the retry's task log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from include.oom_evidence import KernelMark, memory_evidence
from include.registry import Registry

log = logging.getLogger(__name__)

TRAINING_KEY = "training_key"
# Set on a version once its model is registered and READY; only then does an alias point at it.
COMPLETE_TAG = "training_complete"
TRY_TAG = "airflow_try_number"
INTERRUPTED_TAG, INTERRUPTED_REASON_TAG = "ct.interrupted", "ct.interrupted_reason"
# A run in one of these states was never ended by its own try (FAILED: the try raised and said so itself).
UNENDED = ("RUNNING", "SCHEDULED", "FINISHED", "KILLED")


def start_tags(key: str, try_number) -> dict[str, str]:
    """Tags a training run carries from its first moment: a try killed mid-fit must still be findable."""
    return {TRAINING_KEY: key, TRY_TAG: str(try_number or ""), **KernelMark.now().to_tags()}


@dataclass
class Recovery:
    """What :func:`resume_or_clean` found and did, in sentences for the retry's log."""

    reused: dict | None = None  # {"version", "run_id"} of a version an earlier try completed
    done: list[str] = field(default_factory=list)

    def describe(self, key: str) -> str:
        if not self.done and self.reused is None:
            return f"{key}: no earlier try left anything behind"
        found = [f"reusing version {self.reused['version']} (run {self.reused['run_id']}), completed by an earlier try"] if self.reused else []
        return f"{key}: " + "; ".join(self.done + found)


def interrupted_reason(run, now: KernelMark) -> str:
    """Why the run of an earlier try is being ended as FAILED, with the evidence on memory."""
    tags = run.data.tags
    which = f"try {tags[TRY_TAG]}" if tags.get(TRY_TAG) else "an earlier try"
    if run.info.status == "FINISHED":
        how = f"{which} ended its run but never completed its version (killed, or failed, while registering it)"
    else:
        how = f"{which} stopped without ending its run (status {run.info.status}): it was killed (SIGKILL, signal 9) or its machine stopped"
    return f"{how}; {memory_evidence(KernelMark.from_tags(tags), now)}"


def resume_or_clean(registry: Registry, model: str, experiment_id: str, key: str) -> Recovery:
    """The completed training of ``key`` (``Recovery.reused``), after removing and closing partial leftovers."""
    from mlflow.entities import RunStatus

    client = registry.client
    recovery = Recovery()
    complete = None
    for ref in registry.versions_tagged(model, TRAINING_KEY, key):
        if complete is None and ref.tags.get(COMPLETE_TAG) == "true":
            complete = ref
            continue
        # Registered, never completed: the try died between register_model and the completion tag.
        registry.delete_version(model, ref.version)
        recovery.done.append(f"removed version {ref.version} (run {ref.run_id}): registered by an interrupted try, never completed")
    now = KernelMark.now()
    for run in client.search_runs([experiment_id], filter_string=f"tags.{TRAINING_KEY} = '{key}'"):
        if (complete is not None and run.info.run_id == complete.run_id) or run.info.status not in UNENDED:
            continue
        reason = interrupted_reason(run, now)
        client.set_tag(run.info.run_id, INTERRUPTED_TAG, "true")
        client.set_tag(run.info.run_id, INTERRUPTED_REASON_TAG, reason[:5000])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        recovery.done.append(f"closed MLflow run {run.info.run_id} as FAILED (was {run.info.status}), tagged {INTERRUPTED_TAG}=true: {reason}")
    if complete is not None:
        recovery.reused = {"version": complete.version, "run_id": complete.run_id}
    if recovery.done or recovery.reused:
        log.warning("Recovering an interrupted training: %s", recovery.describe(key))
    return recovery
