"""Check every model YAML before anything runs: ``python -m include.check [YAML or folder ...]`` (``make check``).

The schema (as the DAG factory applies it) and then the estimator against scikit-learn
(``include/estimator_check.py``), which the DAG factory cannot do at parse time. Prints each
model's problems with file and field, and exits 1 if any model has one; CI runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from include.errors import SpecError
from include.estimator_check import estimator_problems
from include.settings import MODELS_DIR
from include.spec import discover_specs, load_spec


def spec_problems(path: Path) -> list[str]:
    """Every problem of one model YAML, each naming the file and the field."""
    try:
        spec = load_spec(path)
    except SpecError as exc:
        # The estimator is checked only once the schema passes: a broken spec has no task to check it against.
        return str(exc).splitlines()
    return estimator_problems(spec, str(path))


def check(paths: list[Path]) -> dict[Path, list[str]]:
    """Problems per model YAML; the folders among ``paths`` stand for the YAMLs in them."""
    specs = [p for given in paths for p in (discover_specs(given) if given.is_dir() else [given])]
    return {path: spec_problems(path) for path in specs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[MODELS_DIR], help="model YAMLs or folders of them (default: include/models)")
    results = check(parser.parse_args(argv).paths)
    if not results:
        print("no model YAML found", file=sys.stderr)
        return 1
    for path, problems in results.items():
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  {problem}")
    broken = sum(1 for problems in results.values() if problems)
    if broken:
        print(f"{broken} of {len(results)} model(s) have problems; their runs would fail before reading data.", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
