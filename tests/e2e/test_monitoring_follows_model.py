"""A model's ``__monitoring`` DAG follows the model's pause state, through Airflow's own CLI and execution API.

A private AIRFLOW_HOME: ``airflow dags reserialize`` creates the DAGs as the dag-processor would (the
monitoring DAG unpaused, the model paused), then ``airflow dags test`` runs the monitoring DAG, whose
``monitor`` task asks the execution API for the model's pause state (about 2 minutes in all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from include.settings import MODELS_DIR

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
MODEL = "followed_model"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_follow")
    models = home / "models"
    models.mkdir()
    shutil.copy(MODELS_DIR / "seattle_temp_max.yaml", models / f"{MODEL}.yaml")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
        "CT_MODELS_DIR": str(models),
        "CT_HOME": str(home / "state"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }

    def run(*args: str, timeout: int = 300) -> str:
        out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, cwd=home, capture_output=True, text=True, timeout=timeout, check=False)
        assert out.returncode == 0, f"airflow {' '.join(args)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout + out.stderr

    run("db", "migrate")
    run("dags", "reserialize")
    return run


def _paused(airflow) -> dict[str, bool]:
    listed = json.loads(airflow("dags", "list", "-o", "json").strip().splitlines()[-1])
    return {d["dag_id"]: str(d["is_paused"]).lower() == "true" for d in listed}


def test_a_new_models_monitoring_dag_is_created_unpaused_and_its_model_paused(airflow):
    assert _paused(airflow) == {MODEL: True, f"{MODEL}__monitoring": False}


def test_monitoring_skips_while_the_model_is_paused_and_runs_once_it_is_unpaused(airflow):
    out = airflow("dags", "test", f"{MODEL}__monitoring", "2026-11-30")
    assert f"The training DAG '{MODEL}' is paused, and its monitoring follows it" in out

    airflow("dags", "unpause", MODEL)
    out = airflow("dags", "test", f"{MODEL}__monitoring", "2026-11-29")
    assert "is paused" not in out
    # Past the pause check, monitor did its work: with no champion yet, there is nothing to compare.
    assert f"no champion of {MODEL} in the registry yet" in out
