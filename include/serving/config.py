"""The model server's limits and credentials, read from the environment.

Every limit has a default that is safe on a laptop; a value that is not a positive
number stops the server at start with a message naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServingConfig:
    admin_token: str | None = None  # CT_SERVING_ADMIN_TOKEN: without it, admin routes refuse (503)
    predict_token: str | None = None  # CT_SERVING_TOKEN: with it, predictions need a bearer token
    max_body_bytes: int = 1_000_000  # CT_SERVING_MAX_BODY_BYTES: larger bodies get 413, unread
    max_rows: int = 10_000  # CT_SERVING_MAX_ROWS: more rows per request get 413
    body_timeout_s: float = 10.0  # CT_SERVING_BODY_TIMEOUT_S: a body still arriving after this gets 408
    header_timeout_s: float = 10.0  # CT_SERVING_HEADER_TIMEOUT_S: headers still arriving after this get 408
    keep_alive_s: int = 5  # CT_SERVING_KEEP_ALIVE_S: idle keep-alive connections are closed after this
    prediction_log: bool = True  # CT_SERVING_PREDICTION_LOG=off: no prediction log (drift monitoring then sees nothing)
    workers: int = os.cpu_count() or 1  # CT_SERVING_WORKERS: server processes (python -m include.serving); 1 = a single process
    worker_sync_timeout_s: float = 45.0  # CT_SERVING_WORKER_SYNC_TIMEOUT_S: a deploy fails if a worker has not swapped by then

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServingConfig:
        env = os.environ if environ is None else environ
        defaults = cls()

        def positive(name: str, default: float, kind: type):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                value = None
            if value is None or value <= 0:
                raise ValueError(f"{name} must be a positive {kind.__name__}, found {raw!r}")
            return value

        def switch(name: str, default: bool) -> bool:
            raw = (env.get(name) or "").strip().lower()
            if raw == "":
                return default
            if raw not in ("on", "off"):
                raise ValueError(f"{name} must be 'on' or 'off', found {env.get(name)!r}")
            return raw == "on"

        return cls(
            admin_token=env.get("CT_SERVING_ADMIN_TOKEN") or None,
            predict_token=env.get("CT_SERVING_TOKEN") or None,
            max_body_bytes=positive("CT_SERVING_MAX_BODY_BYTES", defaults.max_body_bytes, int),
            max_rows=positive("CT_SERVING_MAX_ROWS", defaults.max_rows, int),
            body_timeout_s=positive("CT_SERVING_BODY_TIMEOUT_S", defaults.body_timeout_s, float),
            header_timeout_s=positive("CT_SERVING_HEADER_TIMEOUT_S", defaults.header_timeout_s, float),
            keep_alive_s=positive("CT_SERVING_KEEP_ALIVE_S", defaults.keep_alive_s, int),
            prediction_log=switch("CT_SERVING_PREDICTION_LOG", defaults.prediction_log),
            workers=positive("CT_SERVING_WORKERS", defaults.workers, int),
            worker_sync_timeout_s=positive("CT_SERVING_WORKER_SYNC_TIMEOUT_S", defaults.worker_sync_timeout_s, float),
        )
