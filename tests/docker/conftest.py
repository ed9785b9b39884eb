"""One private Docker engine per module, with the base image imported and a small MLflow registry.

Skipped LOUDLY (with the reason) where no engine can be started: not root, no dockerd or
debootstrap (``.ci/run`` installs both, so CI never skips). Everything started here is removed
at the end: containers, images (with the engine's data root), dockerd by its PID, temp dirs.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.docker_engine import (
    Engine,
    import_base_image,
    load_cached_image,
    save_image_to_cache,
    start_engine,
    stop_engine,
    wheelhouse,
    why_no_engine,
)
from tests.support.served_model import MODEL, register_seattle_model

COLUMNS = ["temp_min", "precipitation", "wind", "weather"]
SMOKE = {"dataframe_split": {"columns": COLUMNS, "data": [[8.3, 3.8, 4.7, "fog"], [2.0, 0.0, 1.5, "sun"]]}}


@dataclass
class Stack:
    engine: Engine
    client: object
    registry: object
    target: object
    setup_s: dict
    home: Path


@pytest.fixture(scope="module")
def stack():
    reason = why_no_engine()
    if reason:
        pytest.skip(f"DOCKER TIER NOT RUN: {reason}")
    import docker

    from include.docker_deploy.images import ImageSettings, runtime_tag
    from include.docker_deploy.target import DockerSettings, DockerTarget, free_port
    from include.registry import Registry
    from include.settings import Settings

    timings = {}
    started = time.monotonic()
    engine = start_engine()
    timings["engine_start_s"] = time.monotonic() - started
    home = Path(tempfile.mkdtemp(prefix="ct-docker-home-"))
    try:
        client = docker.DockerClient(base_url=engine.url, version="auto", timeout=300)
        t = time.monotonic()
        base = import_base_image(client)
        timings["base_image_s"] = time.monotonic() - t
        t = time.monotonic()
        wheels = wheelhouse()
        timings["wheelhouse_s"] = time.monotonic() - t
        image_settings = ImageSettings(base_image=base, wheelhouse=wheels)
        # The runtime image depends only on code, dependencies and base: reuse an earlier run's.
        runtime = runtime_tag(image_settings)
        t = time.monotonic()
        timings["runtime_cached"] = load_cached_image(client, runtime)
        timings["runtime_load_s"] = time.monotonic() - t
        for _ in range(2):  # versions 1 and 2: good
            register_seattle_model(home)
        _, broken = register_seattle_model(home)  # version 3: its model file is garbage
        settings = Settings.from_env({"CT_HOME": str(home)})
        registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        _break_model_files(registry, broken)
        # health_timeout_s: a busy machine (2 cores shared) took over 90 s to start a serving
        # container; 300 s bounds the wait, it does not time anything.
        target = DockerTarget(
            client, registry,
            DockerSettings(images=image_settings, router_port=free_port(), admin_token=secrets.token_hex(8), keep_images=2, health_timeout_s=300),
        )
        yield Stack(engine, client, registry, target, timings, home)
        if not timings["runtime_cached"]:
            try:
                save_image_to_cache(client, runtime)
            except Exception as exc:  # noqa: BLE001 - a cache, not a result: say so and go on
                print(f"could not cache {runtime}: {exc}")
        print(f"\nDOCKER TIER SETUP: {timings}")
    finally:
        stop_engine(engine)
        shutil.rmtree(home, ignore_errors=True)


def _break_model_files(registry, version: str) -> None:
    """Overwrite the serialized estimator: the version exports, its container starts and cannot load it."""
    root = Path(registry.client.get_model_version_download_uri(MODEL, version).removeprefix("file://"))
    serialized = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".skops", ".pkl", ".joblib")]
    assert serialized, f"no serialized model under {root}: {sorted(p.name for p in root.rglob('*'))}"
    for path in serialized:
        path.write_bytes(b"not a model")
