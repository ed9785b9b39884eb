"""DAG parse time: what one DAG file adds once ``airflow.sdk`` is imported, as in the dag-processor.

Airflow 3's dag-processor parses each file in a fresh child of a process that has already
imported Airflow, so each parse pays our own imports and the DAG building again. Each sample
here is one fresh interpreter that imports ``airflow.sdk`` (not timed), then executes the DAG
file (timed) and reports which heavy ML libraries the parse pulled in (there should be none).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from include.settings import MODELS_DIR, PROJECT_ROOT

HEAVY = ["mlflow", "great_expectations", "sklearn", "pandas", "dvc", "scipy", "docker"]

_PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    import airflow.sdk  # already imported in the dag-processor: not part of the file's cost
    path = sys.argv[1]
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("dag_file_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seconds = time.perf_counter() - start
    from airflow.sdk import DAG
    dags = {v.dag_id for v in vars(module).values() if isinstance(v, DAG)}
    heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
    print(json.dumps({"seconds": seconds, "dags": len(dags), "heavy_imports": heavy}))
    """
)

TRIVIAL_DAG = textwrap.dedent(
    """
    from datetime import datetime
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    with DAG("trivial", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        EmptyOperator(task_id="noop")
    """
)


def models_dir_with(count: int, root: Path) -> Path:
    """``count`` model YAMLs: copies of the shipped examples under new names (dag_id = file name)."""
    folder = root / f"models-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    examples = sorted(MODELS_DIR.glob("*.yaml"))
    for i in range(count):
        example = examples[i % len(examples)]
        shutil.copy(example, folder / f"{example.stem}_{i:02d}.yaml")
    return folder


def sample(dag_file: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(dag_file), json.dumps(HEAVY)],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"parsing {dag_file} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(work: Path, repeats: int = 5, model_counts: tuple[int, ...] = (2, 20)) -> list[dict]:
    """Median parse time of the trivial DAG and of ``dags/model_pipelines.py`` with 2 and 20 models."""
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.setdefault("AIRFLOW_HOME", str(work / "airflow-home"))
    trivial = work / "trivial_dag.py"
    trivial.write_text(TRIVIAL_DAG)
    cases = [("trivial DAG (one EmptyOperator)", trivial, None)]
    cases += [(f"dags/model_pipelines.py, {n} models", PROJECT_ROOT / "dags" / "model_pipelines.py", n) for n in model_counts]
    rows = []
    for label, dag_file, models in cases:
        case_env = dict(env)
        if models is not None:
            case_env["CT_MODELS_DIR"] = str(models_dir_with(models, work))
        samples = [sample(dag_file, case_env) for _ in range(repeats)]
        seconds = [s["seconds"] for s in samples]
        rows.append(
            {
                "case": label,
                "models": models,
                "dags": samples[0]["dags"],
                "median_s": round(statistics.median(seconds), 3),
                "min_s": round(min(seconds), 3),
                "max_s": round(max(seconds), 3),
                "per_dag_ms": round(1000 * statistics.median(seconds) / max(1, samples[0]["dags"]), 1),
                "heavy_imports": sorted({m for s in samples for m in s["heavy_imports"]}),
            }
        )
    return rows
