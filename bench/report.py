"""The benchmark's results as a Markdown page and plots (``reports/bench/`` by default)."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def machine() -> str:
    import os

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}, load average {load:.1f} at the end"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    parts = [f"# Benchmark\n\n{results['started']}, {results['duration_s']:.0f} s, mode `{results['mode']}`; {results['machine']}.\n"]
    dates = results.get("sections_run", {})
    if len(set(dates.values())) > 1:
        parts.append("Sections measured at different times: " + ", ".join(f"{k} {v}" for k, v in dates.items()) + ".\n")
    if "parse" in results:
        parts.append("## DAG parse time (fresh process, `airflow.sdk` already imported; median)\n")
        parts.append(_table(
            ["DAG file", "DAGs", "median s", "min–max s", "per DAG ms", "heavy imports"],
            [[r["case"], r["dags"], r["median_s"], f"{r['min_s']}–{r['max_s']}", r["per_dag_ms"], ", ".join(r["heavy_imports"]) or "none"] for r in results["parse"]],
        ))
    if "scale" in results:
        parts.append("\n## Scale: plain pipeline per size (fresh process), and the unchanged re-run\n")
        parts.append(_table(
            ["rows", "snapshot MB", "ingest s", "version s", "validate s", "train s", "peak RSS MiB",
             "unchanged: data identity s (ingest + version)", "unchanged: registry lookup s", "md5sum s", "dvc status s"],
            [[f"{r['rows']:,}", r["snapshot_mb"], r["train_run"]["ingest"], r["train_run"]["version"], r["train_run"]["validate"], r["train_run"]["train"],
              r["peak_rss_mib"], r.get("data_identity_s"), r["fingerprint_s"], r["md5sum_s"], r["dvc_status_s"]] for r in results["scale"]],
        ))
    if "orchestration" in results:
        parts.append("\n## Orchestration overhead, skip path and time to production\n")
        parts.append(_table(
            ["rows", "plain script s", "Airflow DAG run s", "ratio", "Airflow process s (with start-up)", "ratio with start-up",
             "unchanged re-run s (training skipped)", "time to production s (local)"],
            [[f"{r['rows']:,}", r["plain_s"], r.get("airflow_run_s"), r.get("ratio_run"), r["airflow_s"], r["ratio"], r.get("skip_run_run_s", r["skip_run_s"]), r["time_to_production_s"]]
             for r in results["orchestration"]],
        ))
        parts.append(
            "\nThe DAG runs in one process (`dag.test()`); *start-up* is that process importing Airflow, parsing the DAG file and "
            "serving Airflow's execution API for the first time, which a running platform has done before any run.\n"
        )
    if "docker" in results:
        d = results["docker"]
        parts.append("\n## Time to production, docker target\n")
        parts.append(_table(
            ["rows", "time to production s (DAG run: data landed -> container answering)", "of which deploy s (image, container, health, switch)", "tasks s", "set-up, not timed"],
            [[f"{d['rows']:,}", d["time_to_production_s"], d["deploy_s"], ", ".join(f"{k} {v}" for k, v in (d.get("task_seconds") or {}).items()),
              ", ".join(f"{k} {v}" for k, v in d["setup"].items())]],
        ))
    if "serving" in results:
        serving = results["serving"]
        floor = "; ".join(
            f"{k}: pyfunc predict {v['predict_ms']} ms, floor {v['floor_rps']} req/s"
            + (f"; raw sklearn predict {v['raw_predict_ms']} ms, floor {v['raw_floor_rps']} req/s" if "raw_predict_ms" in v else "")
            for k, v in serving["floor"].items()
        )
        parts.append(f"\n## Serving (closed loop, client processes; in-process floor: {floor})\n")
        parts.append(_table(
            ["server", "request", "concurrency", "req/s", "p50 ms", "p99 ms", "errors"],
            [[r["server"], r["request"], r["concurrency"], r["throughput_rps"], r["p50_ms"], r["p99_ms"], r["errors"]] for r in serving["servers"]],
        ))
    if results.get("errors"):
        parts.append("\n## Sections that failed\n\n" + "\n".join(f"- **{k}**: `{v}`" for k, v in results["errors"].items()))
    parts.append("\nPlots: " + ", ".join(f"![{p}]({p})" for p in results.get("plots", [])))
    return "\n".join(parts) + "\n"


def plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if results.get("scale"):
        rows = [r["rows"] for r in results["scale"]]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for stage in ("ingest", "version", "validate", "train"):
            left.plot(rows, [r["train_run"][stage] for r in results["scale"]], marker="o", label=stage)
        left.set(xscale="log", yscale="log", xlabel="rows in the window", ylabel="seconds", title="Stage time by size")
        left.legend()
        right.plot(rows, [r.get("data_identity_s", r["skip_check_s"]) for r in results["scale"]], marker="o", label="our data identity (ingest+version)")
        right.plot(rows, [r["skip_check_s"] for r in results["scale"]], marker="o", label="with the registry lookup")
        right.plot(rows, [r["md5sum_s"] for r in results["scale"]], marker="o", label="md5sum")
        right.plot(rows, [r["dvc_status_s"] for r in results["scale"]], marker="o", label="dvc status")
        right.set(xscale="log", yscale="log", xlabel="rows in the window", ylabel="seconds", title="Unchanged data: cost of deciding to skip")
        right.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=90)
        plt.close(fig)
        written.append("scale.png")
    if results.get("serving"):
        rows = results["serving"]["servers"]
        labels = [f"{r['server'].replace('ct model server', 'ct').replace('mlflow models serve', 'mlflow')}\n{r['request']}, c={r['concurrency']}" for r in rows]
        fig, ax = plt.subplots(figsize=(11, 4))
        ax.bar(range(len(rows)), [r["throughput_rps"] for r in rows], color=["#2a9d8f" if r["server"].startswith("ct") else "#e76f51" for r in rows])
        ax.set_xticks(range(len(rows)), labels, fontsize=7)
        ax.set(ylabel="requests / s", title="Serving throughput: ct model server (green) vs mlflow models serve (red)")
        fig.tight_layout()
        fig.savefig(out / "serving.png", dpi=90)
        plt.close(fig)
        written.append("serving.png")
    return written


def keep_earlier(results: dict, out: Path, sections: set[str]) -> None:
    """A partial run (``--sections``) keeps the other sections' figures from the last page, dated as such."""
    try:
        earlier = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return
    for section in sorted(sections):
        if section in earlier and earlier.get("mode") != "smoke":
            results[section] = earlier[section]
            results["sections_run"][section] = earlier.get("sections_run", {}).get(section, earlier.get("started"))
            if section in earlier.get("errors", {}):
                results["errors"][section] = earlier["errors"][section]


def write(results: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    results["plots"] = plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    page = out / "README.md"
    page.write_text(markdown(results))
    return page
