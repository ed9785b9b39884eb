"""Orchestration overhead, the skip path end to end, and time to production.

For each dataset size, two platform homes get the same synthetic data:
- home ``plain``: the plain pipeline (``bench.plain_pipeline``, no Airflow), every stage and deploy;
- home ``airflow``: the model's DAG through ``dag.test()`` (``bench.airflow_run``), then the same
  day again (nothing changed: training skipped).
Both deploy to one running model server. The first DAG run of a model that has no champion yet is
also its *time to production*: from the start of the run (the data has landed, the platform is
running) to the server answering with the new version. ``bench.docker_target`` does the same with
``deploy.target: docker``.

Figures are per run: what a running platform has done once (migrating its databases, importing
Airflow, serving the execution API for the first time) is set-up, reported apart (``airflow_setup_s``);
``ratio`` also gives the whole process against the plain script.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench import synthetic
from bench.scale import _env
from bench.serving import _server
from include.settings import PROJECT_ROOT


def shared_registry(work: Path) -> dict[str, str]:
    """One MLflow store for the whole section, so that the one model server can load every version."""
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "CT_MLFLOW_ARTIFACT_ROOT": str(work / "mlflow-artifacts")}


def airflow_env(work: Path, home: Path, models_dir: Path, serving_url: str, token: str) -> dict[str, str]:
    airflow_home = work / "airflow-home"
    return {
        **_env(home),
        **shared_registry(work),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "CT_MODELS_DIR": str(models_dir),
        "CT_SERVING_URL": serving_url,
        "CT_SERVING_ADMIN_TOKEN": token,
        "GIT_PYTHON_REFRESH": "quiet",
    }


def _run(argv: list[str], env: dict, what: str, log: Path) -> dict:
    started = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=3600, check=False)
    wall = round(time.perf_counter() - started, 3)
    log.write_text(f"$ {' '.join(argv)}\n{out.stdout}\n--- stderr ---\n{out.stderr}")  # kept with --work
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}), log {log}:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall}


def _served_version(url: str, model: str) -> str | None:
    try:
        response = requests.get(f"{url}/models/{model}", timeout=5)
        return response.json().get("version") if response.status_code == 200 else None
    except requests.RequestException:
        return None


def measure_size(work: Path, rows: int, server_url: str, token: str, progress=print) -> dict:
    name = f"synthetic_{rows}"
    homes = {kind: work / f"{kind}-{rows}" for kind in ("plain", "airflow")}
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    # Distinct model names: both homes register in one store and deploy to one server.
    plain_model = synthetic.create(homes["plain"], rows, name=f"{name}_plain")
    dag_model = synthetic.create(homes["airflow"], rows, name=name)
    env = airflow_env(work, homes["airflow"], dag_model.spec_path.parent, server_url, token)
    plain_env = {**env, **_env(homes["plain"]), **shared_registry(work)}
    day = synthetic.END.isoformat()

    progress(f"orchestration: {rows:,} rows, Airflow DAG run ...")
    first = _run([sys.executable, "-m", "bench.airflow_run", name, "--day", day], env, "DAG run", work / f"dag-run-{rows}.log")
    answering = _served_version(server_url, name)
    # The platform is running and the data has landed when the run starts; the run ends once the deploy
    # task has seen the new version answer a smoke request. The process's own start-up is not counted.
    to_production = first["run_seconds"]
    progress(f"orchestration: {rows:,} rows, unchanged re-run ...")
    again = _run([sys.executable, "-m", "bench.airflow_run", name, "--day", day], env, "unchanged DAG re-run", work / f"dag-rerun-{rows}.log")
    progress(f"orchestration: {rows:,} rows, plain pipeline ...")
    plain = _run([sys.executable, "-m", "bench.plain_pipeline", str(plain_model.spec_path), "--day", day], plain_env, "plain pipeline", work / f"plain-{rows}.log")
    return {
        "rows": rows,
        "plain_s": plain["wall_s"],
        "plain_stages": plain["seconds"],
        "airflow_s": first["wall_s"],
        "airflow_tasks": first["tasks"],
        "airflow_task_seconds": first.get("task_seconds"),
        "airflow_setup_s": first.get("setup_seconds"),
        "ratio": round(first["wall_s"] / plain["wall_s"], 2),
        # The run itself, without the process's start-up (see bench.airflow_run).
        "airflow_run_s": first.get("run_seconds"),
        "ratio_run": round(first["run_seconds"] / plain["wall_s"], 2) if first.get("run_seconds") else None,
        "skip_run_run_s": again.get("run_seconds"),
        "skip_run_s": again["wall_s"],
        "skip_run_tasks": again["tasks"],
        "skip_run_task_seconds": again.get("task_seconds"),
        "time_to_production_s": to_production,
        "served_version": answering,
    }


def prepare_stores(work: Path, env: dict) -> None:
    """One Airflow metadata database and one MLflow store for every run of the section, created here:
    set-up, not part of any figure (whichever run came first would otherwise pay for the schemas)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    if not (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=900)
    registry = shared_registry(work)["MLFLOW_TRACKING_URI"]
    subprocess.run([sys.executable, "-c", f"from mlflow import MlflowClient; MlflowClient({registry!r}).search_experiments()"], env=env, check=True, capture_output=True, timeout=900)


def measure(work: Path, sizes: tuple[int, ...], progress=print) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    server_env = {**_env(work / "model-server"), **shared_registry(work), "CT_SERVING_ADMIN_TOKEN": token}
    progress("orchestration: airflow db migrate ...")
    prepare_stores(work, airflow_env(work, work / "model-server", work, "", token))
    rows = []
    with _server([sys.executable, "-m", "include.serving", "--host", "127.0.0.1"], server_env, work / "model-server.log", "/health") as url:
        for size in sizes:
            rows.append(measure_size(work, size, url, token, progress))
            progress(f"orchestration: {size:,} rows: {json.dumps(rows[-1])}")
    return rows
