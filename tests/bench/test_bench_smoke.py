"""The benchmark's smoke mode: every section runs on tiny data and reports sane figures.

The full benchmark (`make bench`) is not part of the suite; this keeps its code from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_every_section_of_the_smoke_benchmark_reports_figures(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_", "MLFLOW"))}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path / "report"), "--work", str(tmp_path / "work")],
        cwd=ROOT, env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}, capture_output=True, text=True, timeout=1500, check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["errors"] == {}

    (parse,) = [r for r in results["parse"] if r["models"] == 2]
    assert parse["dags"] == 2 and parse["heavy_imports"] == []

    (scale,) = results["scale"]
    assert scale["skipped"] is True, "an unchanged re-run must find the version it would train again"
    assert scale["rows"] == 2000 and scale["peak_rss_mib"] > 0

    (run,) = results["orchestration"]
    assert set(run["airflow_tasks"].values()) == {"success"}
    assert run["skip_run_tasks"]["train"] == "skipped" and run["skip_run_tasks"]["deploy"] == "success"
    assert run["served_version"] == "1"

    servers = {(r["server"].split()[0], r["request"], r["concurrency"]): r for r in results["serving"]["servers"]}
    assert len(servers) == 8 and all(r["errors"] == 0 and r["requests"] > 0 for r in servers.values())

    page = (tmp_path / "report" / "README.md").read_text()
    assert "| rows |" in page and (tmp_path / "report" / "scale.png").stat().st_size > 0
