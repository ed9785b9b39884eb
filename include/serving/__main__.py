"""``python -m include.serving [--host 127.0.0.1] [--port 5001] [--workers N]``: start the model server.

One process scores on one core at a time (the GIL), so by default the server runs one worker
process per CPU (``CT_SERVING_WORKERS``; ``--workers 1`` keeps a single process). The workers
share one folder made fresh for this start: their Prometheus samples (``PROMETHEUS_MULTIPROC_DIR``)
and the status files through which a hot deploy waits for every worker (``include/serving/workers.py``).
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from include.serving.config import ServingConfig
from include.serving.protocol import with_header_deadline
from include.serving.workers import WORKER_DIR_ENV

APP = "include.serving.app:build_app_from_env"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every deployed model over MLflow's scoring protocol.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--workers", type=int, default=None, help="server processes (default: CT_SERVING_WORKERS, else one per CPU)")
    args = parser.parse_args()
    config = ServingConfig.from_env()  # fails here, naming the variable, if a limit is not a positive number
    workers = args.workers if args.workers is not None else config.workers
    if workers < 1:
        parser.error(f"--workers must be at least 1, found {workers}")
    common = {"factory": True, "host": args.host, "port": args.port, "log_level": "info", "timeout_keep_alive": config.keep_alive_s}
    if workers == 1:
        uvicorn.run(APP, http=with_header_deadline(config.header_timeout_s), **common)
        return
    shared = Path(tempfile.mkdtemp(prefix="ct-serving-workers-"))
    try:
        (shared / "metrics").mkdir()
        (shared / "status").mkdir()
        # Set before any worker imports prometheus_client: it picks its value class at import.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared / "metrics")
        os.environ[WORKER_DIR_ENV] = str(shared / "status")
        uvicorn.run(APP, http="include.serving.protocol:HeaderDeadlineFromEnv", workers=workers, **common)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    main()
