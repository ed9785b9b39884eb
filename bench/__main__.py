"""``python -m bench [--smoke] [--sections parse,scale,orchestration,serving] [--out reports/bench]``

The platform's costs measured side by side in one run, on data the benchmark creates itself
(no network): DAG parse time, scale and the skip path, orchestration overhead and time to
production, serving. Writes ``results.json``, a Markdown table (``README.md``) and plots to
``--out``. A section that fails is reported in the table with its error; the others still run.
``--smoke`` runs every section on tiny sizes in a few minutes (part of ``make test``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import docker_target, orchestration, parse_time, report, scale, serving

FULL = {
    "parse": {"repeats": 7, "model_counts": (2, 20)},
    "scale": {"sizes": (10_000, 100_000, 1_000_000, 10_000_000)},
    "orchestration": {"sizes": (10_000, 1_000_000)},
    "serving": {"duration_s": 15, "concurrencies": (1, 8)},
    "docker": {"rows": 10_000},
}
SMOKE = {
    "parse": {"repeats": 1, "model_counts": (2,)},
    "scale": {"sizes": (2_000,)},
    "orchestration": {"sizes": (2_000,)},
    "serving": {"duration_s": 1, "concurrencies": (1, 2)},
    "docker": {"rows": 2_000},
}


def progress(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def run(sections: list[str], settings: dict, work: Path) -> tuple[dict, dict]:
    runners = {
        "parse": lambda s: parse_time.measure(work / "parse", **s),
        "scale": lambda s: scale.measure(work / "scale", progress=progress, **s),
        "orchestration": lambda s: orchestration.measure(work / "orchestration", progress=progress, **s),
        "serving": lambda s: serving.measure(work / "serving", progress=progress, **s),
        "docker": lambda s: docker_target.measure(work / "docker", progress=progress, **s),
    }
    results, errors = {}, {}
    for section in sections:
        progress(f"{section}: start")
        started = time.perf_counter()
        (work / section).mkdir(parents=True, exist_ok=True)
        try:
            results[section] = runners[section](settings[section])
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others' figures
            traceback.print_exc()
            errors[section] = f"{type(exc).__name__}: {str(exc)[:500]}"
        progress(f"{section}: done in {time.perf_counter() - started:.0f} s")
    return results, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every section works")
    parser.add_argument("--sections", default=None, help=f"comma-separated subset of {list(FULL)} (default: all; --smoke: all but docker, which tests/docker covers)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    sections = args.sections.split(",") if args.sections else [s for s in FULL if not (args.smoke and s == "docker")]
    unknown = set(sections) - set(FULL)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; expected some of {list(FULL)}")

    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
        work = args.work or Path(tmp)
        results, errors = run(sections, SMOKE if args.smoke else FULL, work)
    results.update(started=stamp, duration_s=time.perf_counter() - started, mode="smoke" if args.smoke else "full", machine=report.machine(), errors=errors)
    results["sections_run"] = {section: stamp for section in sections}
    if args.sections and not args.smoke:
        report.keep_earlier(results, args.out, set(FULL) - set(sections))
    page = report.write(results, args.out)
    progress(f"wrote {page} ({len(errors)} section(s) failed)")
    print(page.read_text())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
