"""Serving: latency and throughput of our model server against `mlflow models serve` and the floor.

One model version (the synthetic regression model, trained by the plain pipeline into a private
MLflow store) is served three ways:
- in-process ``predict`` of the loaded pyfunc model: the floor, no HTTP at all; beside it the
  predict of the raw scikit-learn model under it, which is what our server calls after its own
  validation (``include/serving/scorer.py``): the floor our server can actually reach;
- our model server (``python -m include.serving``), the model hot-deployed through its admin API,
  with one worker process per CPU (its default) and with ``--workers 1``;
- ``mlflow models serve`` of the same version, one worker, no conda/virtualenv (``--env-manager local``).

Each is driven closed-loop (every client sends its next request as soon as the previous one is
answered) by ``concurrency`` client *processes*, so the client is not held back by the GIL, for
1-row and 100-row requests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlparse

import requests

from bench import synthetic
from bench.scale import _env, plain_run
from include.settings import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _server(argv: list[str], env: dict, log: Path, ready_path: str):
    port = _free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([*argv, "--port", str(port)], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + ready_path, process, log)
        yield url
    finally:
        # mlflow models serve runs uvicorn in a child process: stop the whole process group.
        for signal_number in (15, 9):
            try:
                os.killpg(process.pid, signal_number)
                process.wait(timeout=20)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def _client(url: str, body: bytes, headers: dict, duration_s: float, results) -> None:
    parsed = urlparse(url)
    conn = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    latencies, errors = [], 0
    stop = time.perf_counter() + duration_s
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            conn.request("POST", parsed.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
            conn.close()
            conn = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        latencies.append(time.perf_counter() - start)
        errors += not ok
    conn.close()
    results.put((latencies, errors))


def closed_loop(url: str, payload: dict, concurrency: int, duration_s: float, headers: dict | None = None) -> dict:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    results = multiprocessing.get_context("fork").Queue()
    clients = [multiprocessing.get_context("fork").Process(target=_client, args=(url, body, headers, duration_s, results)) for _ in range(concurrency)]
    for client in clients:
        client.start()
    collected = [results.get(timeout=duration_s + 120) for _ in clients]
    for client in clients:
        client.join()
    latencies = sorted(x for lat, _ in collected for x in lat)
    errors = sum(e for _, e in collected)
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / duration_s, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2) if latencies else None,
    }


def payload(frame) -> dict:
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False, date_format="iso"))}


def _medians_s(predicts: dict, frame, repeats: int) -> dict:
    """Median seconds of each predict, called in turn (A, B, A, B, ...) so that a machine whose load
    changes during the measurement weighs on both alike."""
    times: dict = {label: [] for label in predicts}
    for predict in predicts.values():
        predict(frame)  # warm up
    for _ in range(repeats):
        for label, predict in predicts.items():
            start = time.perf_counter()
            predict(frame)
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def in_process_floor(model, frames: dict, repeats: int = 200) -> dict:
    """Median in-process predict time and cores / that time, for pyfunc and for the raw model."""
    from include.serving.scorer import raw_predict_of

    cores = os.cpu_count() or 1
    raw = raw_predict_of(model)
    predicts = {"pyfunc": model.predict, **({"raw": raw} if raw is not None else {})}
    rows = {}
    for label, frame in frames.items():
        medians = _medians_s(predicts, frame, repeats)
        rows[label] = {"predict_ms": round(1000 * medians["pyfunc"], 3), "floor_rps": round(cores / medians["pyfunc"], 1)}
        if "raw" in medians:
            rows[label].update(raw_predict_ms=round(1000 * medians["raw"], 3), raw_floor_rps=round(cores / medians["raw"], 1))
    return rows


def measure(work: Path, duration_s: float = 10, concurrencies: tuple[int, ...] = (1, 8), progress=print) -> dict:
    home = work / "serving"
    shutil.rmtree(home, ignore_errors=True)
    model = synthetic.create(home, 20_000, 10, name="synthetic_serving")
    trained = plain_run(model.spec_path, home, "ingest,version,train,evaluate,promote")
    if not trained.get("promote"):
        raise RuntimeError(f"the benchmark model was not promoted: {trained}")
    env = _env(home)

    from include.registry import Registry
    from include.settings import Settings

    settings = Settings.from_env(env)
    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    ref = registry.by_alias(model.name, "champion")
    pyfunc = registry.load(ref)
    sample = synthetic.frame_for_day(synthetic.END, 100, seed=99).drop(columns=["y", "date"])
    frames = {"1 row": sample.head(1), "100 rows": sample}
    result = {"model_version": ref.version, "floor": in_process_floor(pyfunc, frames), "servers": []}

    token = secrets.token_hex(16)
    ours = [sys.executable, "-m", "include.serving", "--host", "127.0.0.1"]
    theirs = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", ref.uri, "--env-manager", "local", "-w", "1", "-h", "127.0.0.1"]
    cores = os.cpu_count() or 1
    servers = [
        (f"ct model server ({cores} workers)", ours, {**env, "CT_SERVING_ADMIN_TOKEN": token, "CT_SERVING_WORKERS": str(cores)}, "/health", f"/models/{model.name}/invocations"),
        ("ct model server --workers 1", [*ours, "--workers", "1"], {**env, "CT_SERVING_ADMIN_TOKEN": token}, "/health", f"/models/{model.name}/invocations"),
        ("mlflow models serve -w 1", theirs, {**env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}, "/ping", "/invocations"),
    ]
    for label, argv, server_env, ready, route in servers:
        progress(f"serving: {label} ...")
        with _server(argv, server_env, work / f"{label.replace(' ', '-').replace('/', '')}-server.log", ready) as url:
            if route.startswith("/models/"):
                response = requests.post(f"{url}/admin/models/{model.name}/deploy", json={"version": ref.version}, headers={"Authorization": f"Bearer {token}"}, timeout=300)
                response.raise_for_status()
            for rows_label, frame in frames.items():
                for concurrency in concurrencies:
                    figures = closed_loop(url + route, payload(frame), concurrency, duration_s)
                    result["servers"].append({"server": label, "request": rows_label, "concurrency": concurrency, **figures})
                    progress(f"serving: {label}, {rows_label}, c={concurrency}: {figures}")
    return result
