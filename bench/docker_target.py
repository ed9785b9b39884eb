"""Time to production on the docker target: data landed -> a container answering with the new version.

A private Docker engine is started for the section (``tests.support.docker_engine``: these machines
have no engine of their own; ``.ci/run`` installs dockerd and debootstrap). Its set-up is reported
apart and not timed as part of any run: starting the engine, importing the Debian base image and
building (or loading from the cache) the runtime image that every model image starts from — what a
platform with an engine has once, not per model version. Then one model's DAG runs through
``dag.test()`` with ``deploy.target: docker``: ingest ... promote, then the per-version image build,
the container start, its health check, the router switch and the smoke request.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from bench import synthetic
from bench.orchestration import _run, _served_version, airflow_env, prepare_stores
from include.settings import PROJECT_ROOT


def measure(work: Path, rows: int = 10_000, progress=print) -> dict:
    import sys

    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.docker_engine import (
        import_base_image,
        load_cached_image,
        save_image_to_cache,
        start_engine,
        stop_engine,
        wheelhouse,
        why_no_engine,
    )

    reason = why_no_engine()
    if reason:
        raise RuntimeError(f"no Docker engine can be started here: {reason}")
    import docker

    from include.docker_deploy.images import ImageSettings, ensure_runtime_image, runtime_tag
    from include.docker_deploy.target import free_port

    work.mkdir(parents=True, exist_ok=True)
    setup: dict[str, float | bool] = {}
    started = time.perf_counter()
    engine = start_engine()
    setup["engine_start_s"] = round(time.perf_counter() - started, 1)
    try:
        client = docker.DockerClient(base_url=engine.url, version="auto", timeout=300)
        t = time.perf_counter()
        base = import_base_image(client)
        wheels = wheelhouse()
        images = ImageSettings(base_image=base, wheelhouse=wheels)
        runtime = runtime_tag(images)
        setup["runtime_cached"] = load_cached_image(client, runtime)
        progress(f"docker: runtime image {'from the cache' if setup['runtime_cached'] else 'being built'} ...")
        ensure_runtime_image(client, images)
        if not setup["runtime_cached"]:
            save_image_to_cache(client, runtime)
        setup["images_s"] = round(time.perf_counter() - t, 1)

        home = work / f"docker-{rows}"
        shutil.rmtree(home, ignore_errors=True)
        token = secrets.token_hex(16)
        router_port = free_port()
        model = synthetic.create(home, rows, name=f"synthetic_docker_{rows}", target="docker")
        env = {
            **airflow_env(work, home, model.spec_path.parent, "", token),
            "DOCKER_HOST": engine.url, "CT_DOCKER_BASE_IMAGE": base, "CT_DOCKER_WHEELHOUSE": str(wheels),
            "CT_DOCKER_ROUTER_PORT": str(router_port),
        }
        prepare_stores(work, env)
        progress(f"docker: {rows:,} rows, DAG run with deploy.target docker ...")
        run = _run([sys.executable, "-m", "bench.airflow_run", model.name, "--day", synthetic.END.isoformat()], env, "DAG run (docker target)", work / f"dag-run-docker-{rows}.log")
        to_production = run["run_seconds"]  # as in bench.orchestration: the run, not the process start-up
        answering = _served_version(f"http://127.0.0.1:{router_port}", model.name)
        return {
            "rows": rows, "setup": setup, "time_to_production_s": to_production,
            "airflow_setup_s": run.get("setup_seconds"), "deploy_s": (run.get("task_seconds") or {}).get("deploy"),
            "task_seconds": run.get("task_seconds"), "served_version": answering,
        }
    finally:
        stop_engine(engine)
