"""The pipeline's steps as a plain Python script, with no Airflow: the baseline of the overhead ratio.

    python -m bench.plain_pipeline SPEC.yaml [--stages ingest,version,validate,fingerprint,train,evaluate,promote]

It calls the same core functions (``include/``) that the operators call, in the same order, on
the state folder ``CT_HOME``, and prints one JSON line: seconds per stage, the peak resident
memory of the process (``ru_maxrss``) and what each stage produced. Running it in a fresh
process makes the figures comparable with an Airflow task, which also pays its imports.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.synthetic import END

STAGES = ["ingest", "version", "validate", "fingerprint", "train", "evaluate", "promote", "deploy"]


def run(spec_path: Path, stages: list[str], day: date) -> dict:
    """Run ``stages`` for the daily interval [day, day + 1), as a nightly run of that day would."""
    timings: dict[str, float] = {}
    facts: dict[str, object] = {}

    def timed(stage: str):
        class _Timer:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timings[stage] = round(time.perf_counter() - self.start, 3)

        return _Timer()

    started = time.perf_counter()
    with timed("imports"):
        import pandas as pd

        from include import sources
        from include.evaluation import evaluate_challenger
        from include.fingerprint import compute_fingerprint
        from include.ingest import ingest_window, partition_path
        from include.promotion import promote
        from include.registry import Registry
        from include.settings import Settings
        from include.spec import load_spec
        from include.training import train_and_register
        from include.validation import validate_batch_and_window
        from include.versioning import DvcWorkspace

    spec = load_spec(spec_path)
    settings = Settings.from_env()
    start, end = day, day + timedelta(days=1)
    lake = settings.lake_dir / spec.name
    workspace = DvcWorkspace(settings.dvc_workspace, settings.dvc_remote_url)
    # As the operators do: the run builds its own staging snapshot, the version step copies it into the workspace.
    snapshot_path = settings.staging_dir / spec.name / "plain.parquet"
    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    root = Path(spec.source.path)
    root = root if root.is_absolute() else settings.sources_dir / root
    columns = list(spec.expectations.columns)
    schema = {name: column.type for name, column in spec.expectations.columns.items()}
    md5 = fingerprint = version = None

    if "ingest" in stages:
        with timed("ingest"):
            result = ingest_window(
                lambda a, b: sources.read_files(root, spec.source.format, spec.source.date_column, a, b, columns),
                lake, snapshot_path, spec.source.date_column, start, end, spec.window_days, schema=schema,
                previous_snapshot=workspace.snapshot_path(spec.name),
            )
        facts["snapshot_rows"] = result.snapshot_rows
        facts["reused_snapshot"] = result.reused_snapshot
    if "version" in stages:
        with timed("version"):
            md5 = workspace.track(snapshot_path, model=spec.name).md5
        facts["data_md5"] = md5
    if "validate" in stages:
        with timed("validate"):
            batch = pd.read_parquet(partition_path(lake, start))
            outcome = validate_batch_and_window(batch, pd.read_parquet(snapshot_path), spec, settings.reports_dir / spec.name / "plain", "plain")
        facts["validation_passed"] = outcome.success
    if "fingerprint" in stages:
        with timed("fingerprint"):
            fingerprint = compute_fingerprint(md5, spec.training_config())
            facts["skip"] = any(registry.has_model_files(ref)[0] for ref in registry.find_by_fingerprint(spec.name, fingerprint["fingerprint"]))
    if "train" in stages:
        with timed("train"):
            snapshot = pd.read_parquet(snapshot_path)
            data = {"md5": md5 or "unversioned", "remote": settings.dvc_remote_url}
            fingerprint = fingerprint or compute_fingerprint(data["md5"], spec.training_config())
            version = train_and_register(spec, snapshot, data, fingerprint, {"run_id": "bench-plain"}, registry).version
        facts["version"] = version
    if "evaluate" in stages:
        with timed("evaluate"):
            report = evaluate_challenger(spec, pd.read_parquet(snapshot_path), registry, version)
        facts["promote"] = report["promote"]
    if "promote" in stages and facts.get("promote"):
        with timed("promote"):
            promote(registry, spec.name, version, report["reason"], "bench")
    if "deploy" in stages:
        with timed("deploy"):
            import os

            from include.deploy import LocalServerTarget, smoke_request
            from include.registry import CHAMPION, serving_example

            champion = registry.by_alias(spec.name, CHAMPION)
            target = LocalServerTarget(settings.serving_url, os.environ.get("CT_SERVING_ADMIN_TOKEN"))
            facts["deploy"] = target.deploy(spec.name, champion.version, smoke_request(serving_example(registry, champion))).action
    timings["total"] = round(time.perf_counter() - started, 3)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"model": spec.name, "seconds": timings, "peak_rss_mib": round(peak_mib, 1), **facts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--day", type=date.fromisoformat, default=END, help="the batch day (default: the synthetic data's last day)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {STAGES}")
    args = parser.parse_args(argv)
    unknown = set(args.stages.split(",")) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; expected some of {STAGES}")
    print(json.dumps(run(args.spec, args.stages.split(","), args.day)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
