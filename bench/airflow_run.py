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
from datetime import date, datetime, timedelta, timezone

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
    run_started = time.perf_counter()
    # dag.test() takes the interval that ends at the logical date: [day, day + 1) ends at day + 1.
    logical = datetime.combine(args.day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    run = dag.test(logical_date=logical, run_conf={"force_retrain": args.force_retrain})
    finished = time.perf_counter()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"dag_id": args.dag_id, "state": str(run.state), "tasks": states, "seconds": round(finished - _STARTED, 3), "run_seconds": round(finished - run_started, 3)}))
    return 0 if str(run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
