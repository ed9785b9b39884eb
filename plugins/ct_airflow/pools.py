"""Airflow pools that bound what runs at once across every worker.

Created by the embedded start script, by compose's ``airflow-init`` and by the distributed test tier:

    python -m ct_airflow.pools          # with plugins/ on PYTHONPATH and the Airflow environment set

A task whose pool does not exist is never scheduled, so every deployment must create them.
"""

from __future__ import annotations

DVC_WORKSPACE_POOL = "ct_dvc_workspace"
MODEL_REGISTRY_POOL = "ct_model_registry"
MODEL_SERVING_POOL = "ct_model_serving"

POOLS = {
    # DVC holds one repository lock per workspace: a second DVC process fails after ~3 s, so runs queue here.
    DVC_WORKSPACE_POOL: (1, "DVC add/push on the shared workspace (DVC's repository lock allows one at a time)"),
    # The promotion's compare-and-set (read champion, move aliases) is two registry calls: one at a time.
    MODEL_REGISTRY_POOL: (1, "Alias moves in the MLflow registry (champion compare-and-set)"),
    # One deployment at a time per model server: a swap is checked (health, smoke) before the next.
    MODEL_SERVING_POOL: (1, "Deployments to the model server"),
}


def ensure_pools() -> list[str]:
    """Create or update the pools in Airflow's metadata database (a setup step, never a task)."""
    from airflow.models.pool import Pool

    for name, (slots, description) in POOLS.items():
        Pool.create_or_update_pool(name=name, slots=slots, description=description, include_deferred=False)
    return sorted(POOLS)


if __name__ == "__main__":
    print("pools:", ", ".join(ensure_pools()))
