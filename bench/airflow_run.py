"""One model DAG run through Airflow (``dag.test()``) in this process, timed; prints one JSON line.

    python -m bench.airflow_run MODEL_ID --day YYYY-MM-DD [--force-retrain]

The caller sets the environment before this process imports Airflow: ``AIRFLOW_HOME`` with a
migrated metadata database, ``CT_HOME``, ``CT_MODELS_DIR``, the model server's URL and token.
``seconds`` counts from the start of the process, so it includes what every Airflow task run
pays (interpreter start, Airflow import, DAG parse) as the plain pipeline's figure does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta

_STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="the batch day (the run's data interval is this day)")
    parser.add_argument("--force-retrain", action="store_true")
    args = parser.parse_args(argv)

    import os

    from ct_airflow.dag_factory import build_all

    dag = build_all(models_dir=os.environ["CT_MODELS_DIR"], only=args.dag_id)[args.dag_id]
    # Airflow 3.3.2's dag.test() fails at the end of a run that has a deadline; the scheduler handles
    # it (tests/e2e/helpers.py does the same), and a deadline costs nothing measurable here.
    dag.deadline = None
    # dag.test() serves Airflow's execution API in this process; its first request builds the API's
    # versioned routes (Cadwyn: about 8 s here). The platform's api-server pays that once after it
    # starts, not per run: one request here makes it set-up, which the output reports apart.
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    with httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid") as warm_up:
        warm_up.get("/execution/health")
    run_started = time.perf_counter()
    # dag.test() takes the interval that ends at the logical date: [day, day + 1) ends at day + 1.
    logical = datetime.combine(args.day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    run = dag.test(logical_date=logical, run_conf={"force_retrain": args.force_retrain})
    finished = time.perf_counter()
    instances = run.get_task_instances()
    states = {ti.task_id: str(ti.state) for ti in instances}
    # Where the run's time goes: each task's own duration; the rest is Airflow between tasks.
    task_seconds = {ti.task_id: round(ti.duration, 3) for ti in instances if ti.duration is not None}
    print(json.dumps({
        "dag_id": args.dag_id, "state": str(run.state), "tasks": states, "task_seconds": task_seconds,
        "seconds": round(finished - _STARTED, 3), "run_seconds": round(finished - run_started, 3), "setup_seconds": round(run_started - _STARTED, 3),
    }))
    return 0 if str(run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
