"""A bounded, open-loop HTTP load generator: a fixed request rate for a fixed time.

    python -m bench.load URL --payload body.json --rate 50 --duration 60 [--concurrency 8] [--header 'Authorization: Bearer ...']

Requests are scheduled at a fixed rate (request i at start + i/rate), whatever the
server's speed, and sent by a small pool of threads; a request is counted an error when
it fails or answers with anything but 2xx. Latency is measured from the request's
*scheduled* time, so a server (or client) that falls behind shows it in the tail instead
of silently lowering the rate; ``service_latency_ms`` counts from the actual send. The
run is bounded by ``rate * duration`` requests and stops by itself; it refuses any host
but loopback.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import queue
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import requests


def _require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host!r} in {url}: {exc}") from exc
    if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValueError(f"load is only ever sent to loopback; {url} resolves to {sorted(addresses)}")


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))]


def run_load(
    url: str, payload, rate: float, duration: float, concurrency: int = 8, headers: dict | None = None, timeout_s: float = 30,
    stop: threading.Event | None = None,
) -> dict:
    """Send ``rate`` requests per second for ``duration`` seconds (POST JSON ``payload``; GET when None).

    ``stop``, when set, ends the run early: requests not yet sent are dropped (not counted), so a
    caller can keep a steady load exactly as long as something else (a deploy) takes.

    Returns the figures as a dict: requests, errors (with a sample), throughput, latency percentiles.
    """
    if rate <= 0 or duration <= 0 or concurrency <= 0:
        raise ValueError(f"rate, duration and concurrency must be positive, found {rate}, {duration}, {concurrency}")
    _require_loopback(url)
    total = int(rate * duration)
    schedule: queue.Queue = queue.Queue()
    latencies: list[float] = []  # from the scheduled time: includes any wait for a free thread
    service: list[float] = []  # from the moment the request was sent: the server's own time
    errors: list[str] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body = None if payload is None else json.dumps(payload).encode()
    send_headers = {**({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})}

    def worker() -> None:
        session = requests.Session()
        while (due := schedule.get()) is not None:
            if stop is not None and stop.is_set():
                continue
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            error, sent = None, time.perf_counter()
            try:
                response = session.request("POST" if body is not None else "GET", url, data=body, headers=send_headers, timeout=timeout_s)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {response.text[:200]}"
            except requests.RequestException as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            done = time.perf_counter()
            with lock:
                latencies.append(done - due)
                service.append(done - sent)
                statuses[status] = statuses.get(status, 0) + 1
                if error:
                    errors.append(error)
        session.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter() + 0.2  # let the threads start before the first slot
    for i in range(total):
        schedule.put(start + i / rate)
    for _ in threads:
        schedule.put(None)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ordered, ordered_service = sorted(latencies), sorted(service)
    ms = lambda v: None if v is None else round(v * 1000, 2)

    def percentiles(values: list[float]) -> dict:
        return {"p50": ms(_percentile(values, 50)), "p95": ms(_percentile(values, 95)), "p99": ms(_percentile(values, 99)), "max": ms(values[-1] if values else None)}

    return {
        "url": url,
        "target_rate": rate,
        "duration_s": duration,
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 2) if wall > 0 else None,
        "latency_ms": percentiles(ordered),
        "service_latency_ms": percentiles(ordered_service),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--payload", help="file with the JSON body to POST (GET when omitted)")
    parser.add_argument("--rate", type=float, default=20, help="requests per second (default 20)")
    parser.add_argument("--duration", type=float, default=10, help="seconds (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="sending threads (default 8)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    args = parser.parse_args(argv)
    payload = json.loads(Path(args.payload).read_text()) if args.payload else None
    headers = dict(h.split(":", 1) for h in args.header)
    result = run_load(args.url, payload, args.rate, args.duration, args.concurrency, {k.strip(): v.strip() for k, v in headers.items()})
    print(json.dumps(result, indent=2))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
