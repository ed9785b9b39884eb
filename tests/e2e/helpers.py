"""Running a model DAG for one logical date with ``dag.test()`` and reading the outcome."""

from __future__ import annotations

from datetime import UTC, datetime


def run_dag(dag_id: str, logical_date: str, **conf) -> dict[str, str]:
    """Run the whole DAG in-process; returns ``{task_id: state}`` plus ``_run`` (the run state)."""
    from ct_airflow.dag_factory import build_all

    dag = build_all(only=dag_id)[dag_id]
    # Airflow 3.3.2's dag.test() passes the DAG's DeadlineAlert objects where the scheduler passes their
    # stored ids ("'dict' object has no attribute 'hex'" when the run ends); the scheduler handles them
    # (tests/stack runs the real thing), so the in-process runs go without the deadline.
    dag.deadline = None
    # Always pass the whole conf: dag.test() keeps the previous call's conf otherwise.
    run = dag.test(logical_date=datetime.fromisoformat(logical_date).replace(tzinfo=UTC), run_conf={"force_retrain": False, **conf})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    states["_run"] = str(run.state)
    return states
