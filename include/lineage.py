"""Where a model came from: the code version, and the commands that follow lineage back.

    python -m include.lineage fetch-snapshot --md5 <md5> --out snapshot.parquet
    python -m include.lineage show --model seattle_temp_max [--version 3 | --alias champion]

The first fetches any training snapshot back from the DVC remote; the second
prints a model version's lineage (data md5 and remote, fingerprint, git commit,
Airflow run, validation report, evaluation and promotion decisions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from include.settings import PROJECT_ROOT


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The code version: ``CT_GIT_COMMIT`` (set in images), else ``git rev-parse`` (+ "-dirty")."""
    if os.environ.get("CT_GIT_COMMIT"):
        return os.environ["CT_GIT_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def main(argv: list[str] | None = None) -> None:
    from include.registry import Registry
    from include.settings import Settings
    from include.versioning import DvcWorkspace

    parser = argparse.ArgumentParser(description="Follow a model's lineage.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch-snapshot", help="fetch a training snapshot from the DVC remote by md5")
    fetch.add_argument("--md5", required=True)
    fetch.add_argument("--out", type=Path, required=True)
    show = sub.add_parser("show", help="print a model version's lineage tags")
    show.add_argument("--model", required=True)
    group = show.add_mutually_exclusive_group()
    group.add_argument("--version")
    group.add_argument("--alias", default="champion")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "fetch-snapshot":
        path = DvcWorkspace(settings.dvc_workspace, settings.dvc_remote_url).fetch(args.md5, args.out)
        print(json.dumps({"md5": args.md5, "path": str(path.resolve())}))
    else:
        registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        ref = registry.version(args.model, args.version) if args.version else registry.by_alias(args.model, args.alias)
        if ref is None:
            raise SystemExit(f"{args.model} has no version with alias {args.alias!r}")
        print(json.dumps({"model": ref.name, "version": ref.version, "run_id": ref.run_id, **ref.tags}, indent=2))


if __name__ == "__main__":
    main()
