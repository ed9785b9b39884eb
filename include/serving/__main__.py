"""``python -m include.serving [--host 127.0.0.1] [--port 5001]``: start the model server."""

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every deployed model over MLflow's scoring protocol.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    uvicorn.run("include.serving.app:build_app_from_env", factory=True, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
