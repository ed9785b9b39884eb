"""Scale and the skip path: one synthetic model per size, run with the plain pipeline.

For each size (rows in the training window):
- a first run (ingest, version, validate, fingerprint, train, evaluate, promote) in a fresh process:
  seconds per stage and the process's peak resident memory;
- an unchanged re-run of the steps that decide to skip (ingest, version, fingerprint): what a
  night with no new data costs before it skips training;
- the same snapshot hashed by ``md5sum`` and checked by ``dvc status``, the references the
  issue names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import synthetic
from include.settings import PROJECT_ROOT

FULL = "ingest,version,validate,fingerprint,train,evaluate,promote"
SKIP_CHECK = "ingest,version,fingerprint"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CT_DVC_REMOTE", "CT_MLFLOW_ARTIFACT_ROOT")}
    return {**env, "CT_HOME": str(home), "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}", "DVC_NO_ANALYTICS": "1"}


def plain_run(spec_path: Path, home: Path, stages: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.plain_pipeline", str(spec_path), "--stages", stages],
        env=_env(home), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"plain pipeline ({stages}) on {spec_path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_command(argv: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, timeout=1800)
    return round(time.perf_counter() - start, 3)


def measure_size(work: Path, rows: int, days: int = 30) -> dict:
    home = work / f"rows-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    model = synthetic.create(home, rows, days)
    first = plain_run(model.spec_path, home, FULL)
    again = plain_run(model.spec_path, home, SKIP_CHECK)
    snapshot = home / "dvc" / "snapshots" / model.name / "snapshot.parquet"
    dvc = str(Path(sys.executable).parent / "dvc")
    md5sum_s = timed_command(["md5sum", str(snapshot)], cwd=home)
    dvc_status_s = timed_command([dvc, "status"], cwd=home / "dvc", env=_env(home))
    skip_check_s = round(sum(again["seconds"][s] for s in SKIP_CHECK.split(",")), 3)
    return {
        "rows": rows,
        "snapshot_mb": round(snapshot.stat().st_size / 1e6, 1),
        "train_run": first["seconds"],
        "peak_rss_mib": first["peak_rss_mib"],
        "skip_run": again["seconds"],
        "skipped": again.get("skip"),
        "skip_check_s": skip_check_s,
        "fingerprint_s": again["seconds"]["fingerprint"],
        # Has anything changed? The snapshot's identity without reading it (window record, DVC skipped).
        "data_identity_s": round(again["seconds"]["ingest"] + again["seconds"]["version"], 3),
        "reused_snapshot": again.get("reused_snapshot"),
        "md5sum_s": md5sum_s,
        "dvc_status_s": dvc_status_s,
    }


def measure(work: Path, sizes: tuple[int, ...], progress=print) -> list[dict]:
    rows = []
    for size in sizes:
        progress(f"scale: {size:,} rows ...")
        rows.append(measure_size(work, size))
        progress(f"scale: {size:,} rows: {json.dumps(rows[-1])}")
    return rows
