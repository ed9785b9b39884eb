"""A short, bounded load run against the real model server (the 60 s run is `python -m bench.load`)."""

from __future__ import annotations

import pytest

from bench.load import run_load

pytestmark = pytest.mark.services
RATE, DURATION = 20, 5


def test_a_steady_rate_for_five_seconds_has_no_errors(server):
    result = run_load(server.invocations, server.good_payload(), rate=RATE, duration=DURATION, concurrency=4, headers=server.auth)
    print(result)  # the figures, in the test output
    assert result["errors"] == 0, result["error_samples"]
    assert result["requests"] == RATE * DURATION and result["status_counts"] == {"200": RATE * DURATION}
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]


def test_load_is_only_sent_to_loopback():
    with pytest.raises(ValueError, match="only ever sent to loopback"):
        run_load("http://192.0.2.1:5001/health", None, rate=1, duration=1)
