"""``python -m include.serving [--host 127.0.0.1] [--port 5001]``: start the model server."""

import argparse

import uvicorn

from include.serving.config import ServingConfig
from include.serving.protocol import with_header_deadline


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every deployed model over MLflow's scoring protocol.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    config = ServingConfig.from_env()  # fails here, naming the variable, if a limit is not a positive number
    uvicorn.run(
        "include.serving.app:build_app_from_env", factory=True, host=args.host, port=args.port, log_level="info",
        http=with_header_deadline(config.header_timeout_s), timeout_keep_alive=config.keep_alive_s,
    )


if __name__ == "__main__":
    main()
