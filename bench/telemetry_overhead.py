"""What the prediction log and metrics cost a served request, measured on a real server.

    python -m bench.telemetry_overhead [--rate 40] [--duration 20] [--rows 1]

Trains the small Seattle test model once, then runs the same open-loop load (bench.load)
against two model servers in turn: prediction log off, then on (metrics are always on; their
own cost per request is timed in-process). Prints JSON with both latency profiles and the
difference. Servers bind loopback on free ports and are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import timeit
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import run_load
from tests.support.processes import model_server
from tests.support.served_model import register_seattle_model


def metrics_cost_us() -> float:
    """Microseconds of metric updates one scored request makes (counter, histogram, prediction counters)."""
    from include.serving.telemetry import ServingTelemetry

    t = ServingTelemetry()

    def one_request():
        t.latency.labels(model="m").observe(0.012)
        t.requests.labels(model="m", status="200").inc()
        t.predicted("m", "1", [14.2])

    n = 20000
    return timeit.timeit(one_request, number=n) / n * 1e6


def log_record_cost_us(tmp: Path) -> float:
    """Microseconds the request path spends handing one request to the prediction log (a queue put)."""
    from include.monitoring.prediction_log import PredictionLog

    log = PredictionLog(tmp / "timing", max_queue=100_000)
    n = 20000
    cost = timeit.timeit(lambda: log.record("m", "1", "r", [{"temp_min": 8.3, "precipitation": 3.8, "wind": 4.7, "weather": "fog"}], [14.2]), number=n) / n * 1e6
    log.close()
    return cost


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        name, version = register_seattle_model(home)
        payload = {"dataframe_split": {"columns": ["temp_min", "precipitation", "wind", "weather"], "data": [[8.3, 3.8, 4.7, "fog"]] * args.rows}}
        results = {}
        for mode in ("off", "on"):
            admin = secrets.token_hex(16)
            env = {"CT_HOME": str(home), "CT_SERVING_ADMIN_TOKEN": admin, "CT_SERVING_PREDICTION_LOG": mode}
            with model_server(env, Path(tmp) / f"server-{mode}.log") as url:
                deployed = requests.post(f"{url}/admin/models/{name}/deploy", json={"version": version}, headers={"Authorization": f"Bearer {admin}"}, timeout=120)
                deployed.raise_for_status()
                run_load(f"{url}/models/{name}/invocations", payload, rate=args.rate, duration=3)  # warm-up
                results[f"log_{mode}"] = run_load(f"{url}/models/{name}/invocations", payload, rate=args.rate, duration=args.duration)
        logged = sum(len(f.read_bytes().splitlines()) for f in (home / "monitoring" / "predictions").rglob("*.jsonl"))
        off, on = results["log_off"]["service_latency_ms"], results["log_on"]["service_latency_ms"]
        summary = {
            "rate": args.rate, "duration_s": args.duration, "rows_per_request": args.rows,
            "service_latency_ms": {"log_off": off, "log_on": on, "p50_delta": round(on["p50"] - off["p50"], 3), "p99_delta": round(on["p99"] - off["p99"], 3)},
            "errors": {"log_off": results["log_off"]["errors"], "log_on": results["log_on"]["errors"]},
            "rows_logged": logged,
            "in_process_us_per_request": {"metrics": round(metrics_cost_us(), 2), "prediction_log_enqueue": round(log_record_cost_us(Path(tmp)), 2)},
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
