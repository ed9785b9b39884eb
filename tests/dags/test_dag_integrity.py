"""Every model DAG parses, follows the house rules, and stays cheap to parse."""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.settings import MODELS_DIR
from include.spec import discover_specs

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("mlflow", "great_expectations", "sklearn", "dvc", "pandas", "scipy", "skops", "numpy", "pyarrow")
MODEL_IDS = [p.stem for p in discover_specs(MODELS_DIR)]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dags_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_model_yaml_named_after_the_file(dagbag):
    # Each model also has its <model>__monitoring DAG (tests/dags/test_monitoring_dags.py).
    assert sorted(dagbag.dag_ids) == sorted([*MODEL_IDS, *(f"{m}__monitoring" for m in MODEL_IDS)])
    assert len(MODEL_IDS) >= 2


@pytest.mark.parametrize("dag_id", MODEL_IDS)
def test_dag_policy(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and "continuous-training" in dag.tags
    assert dag.doc_md and dag_id in dag.doc_md
    assert "force_retrain" in dag.params
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{task.task_id} has no owner"
        assert task.retries >= 2, f"{task.task_id} retries={task.retries}"
        assert task.doc_md, f"{task.task_id} has no doc_md"


@pytest.mark.parametrize("dag_id", MODEL_IDS)
def test_pipeline_shape_lets_deploy_run_when_training_is_skipped(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    chain = ["ingest", "version_snapshot", "validate", "fingerprint", "train", "evaluate", "promote", "deploy"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    assert dag.get_task("fingerprint").downstream_task_ids == {"train", "deploy"}
    assert dag.get_task("deploy").trigger_rule == "none_failed_min_one_success"
    # Scheduled runs own a data interval; the retrain asset can trigger a run besides.
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert type(dag.timetable.timetable).__name__ == "CronDataIntervalTimetable"


def heavy_modules_after_parsing(dag_file: Path) -> list[str]:
    """The HEAVY modules in ``sys.modules`` after a fresh interpreter ran ``dag_file`` (as the dag-processor does)."""
    code = (
        "import json, runpy, sys; import airflow.sdk; "
        f"runpy.run_path({str(dag_file)!r}); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parsing_a_dag_file_imports_no_heavy_module():
    """Deterministic guard for the parse-time budget: run in a fresh interpreter."""
    assert heavy_modules_after_parsing(ROOT / "dags" / "model_pipelines.py") == []


def test_an_invalid_spec_becomes_a_visible_failing_dag(tmp_path):
    from ct_airflow.dag_factory import build_all

    (tmp_path / "broken_model.yaml").write_text("description: x\nowner: {team: t}\ntask: regression\n")
    dags = build_all(models_dir=tmp_path)
    dag = dags["broken_model"]
    assert "invalid-spec" in dag.tags
    assert "broken_model.yaml" in dag.doc_md and "source" in dag.doc_md
    assert [t.task_id for t in dag.tasks] == ["invalid_spec"]


def test_a_model_whose_owner_has_no_email_still_gets_its_pipeline(tmp_path):
    """owner.email is optional: without it the DAG has no owner link (Airflow refuses owner_links=None)."""
    import re

    from ct_airflow.dag_factory import build_all

    text = (MODELS_DIR / "seattle_temp_max.yaml").read_text()
    (tmp_path / "no_email.yaml").write_text(re.sub(r"(?m)^  email: .*\n", "", text))
    dag = build_all(models_dir=tmp_path)["no_email"]
    assert "invalid-spec" not in dag.tags and "train" in dag.task_ids
    assert not dag.owner_links


def test_core_never_imports_airflow():
    offenders = []
    for path in (ROOT / "include").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert offenders == []
