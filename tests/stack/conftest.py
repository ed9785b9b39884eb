"""A running platform for the tests that need the real Airflow components: the embedded stack
of scripts/embedded.py (api-server, scheduler, dag-processor, triggerer bound to 127.0.0.1,
SimpleAuthManager login, LocalExecutor + SQLite), the MLflow UI and the model server, on free
ports with a private CT_HOME. Started once per session for this tier (about a minute), stopped by PID.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.fixtures import DEMO_END
from tests.support.processes import ROOT, free_port, stop_session, wait_for_http

MODELS = ["penguin_species", "seattle_temp_max"]
# A third model for the deadline alert: penguin_species with a one-minute deadline (tests/stack/test_deadline.py).
LATE_MODEL = "late_penguins"
# Copies of penguin_species owned by one test module each, so that its champion, fingerprints and runs are its own
# whatever ran before it: the monitoring loop (test_monitoring_loop.py) and the killed train task (test_killed_task.py).
PRIVATE_MODELS = {"loop_penguins": "penguin_species", "killed_penguins": "penguin_species"}


class Api:
    """The Airflow REST API as the admin. SQLite under a loaded machine answers slowly: patient
    timeouts, and one retry of a read that timed out (reads are idempotent)."""

    def __init__(self, url: str, password: str):
        response = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=60)
        response.raise_for_status()
        self.url = url
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, **params) -> dict:
        for attempt in (1, 2):
            try:
                response = requests.get(f"{self.url}/api/v2{path}", headers=self.headers, params=params, timeout=60)
                break
            except requests.ReadTimeout:
                if attempt == 2:
                    raise
        response.raise_for_status()
        return response.json()

    def patch(self, path: str, body: dict) -> dict:
        response = requests.patch(f"{self.url}/api/v2{path}", headers=self.headers, json=body, timeout=60)
        response.raise_for_status()
        return response.json()


class Components:
    """The stack's processes, each in its own session; stopped (and reaped) by PID."""

    def __init__(self, logs: Path, env: dict):
        self.logs, self.env, self.started, self.argv = logs, env, {}, {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], extra_env: dict | None = None) -> None:
        self.argv[name] = argv
        with open(self.logs / f"{name}.log", "ab") as log:
            self.started[name] = subprocess.Popen(
                argv, cwd=ROOT, env={**os.environ, **self.env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def restart(self, name: str, extra_env: dict | None = None) -> None:
        """Stop one component (by its PID's session) and start it again, with ``extra_env`` over the stack's environment."""
        stop_session(self.started[name], timeout_s=60)
        self.start(name, self.argv[name], extra_env)

    def check(self) -> None:
        for name, process in self.started.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{(self.logs / f'{name}.log').read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class Stack:
    url: str
    mlflow_url: str
    serving_url: str
    password: str
    env: dict
    settings: object
    api: object
    logs: Path
    mailbox: object  # every alert the platform sends (the ct_alerts connection is this SMTP server)
    components: Components | None = None

    def restart_scheduler(self, **env: str) -> None:
        """The scheduler again, with ``env`` (e.g. AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE) over the stack's environment."""
        self.components.restart("scheduler", env)

    def airflow_cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """The airflow CLI against this stack's metadata DB. SQLite lets one writer in at a time: a command
        that found the scheduler writing fails whole ("database is locked", rolled back) and is run again."""
        for _ in range(5):
            result = subprocess.run([sys.executable, "-m", "airflow", *args], env={**os.environ, **self.env}, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
            if result.returncode == 0 or "database is locked" not in result.stderr + result.stdout:
                break
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result

    def runs(self, dag_id: str) -> list[dict]:
        return self.api.get(f"/dags/{dag_id}/dagRuns", order_by="logical_date", limit=100)["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def wait_for_runs(self, dag_id: str, count: int, timeout_s: float = 900, rerun_after: dict | None = None) -> list[dict]:
        """Poll until ``count`` runs exist and none is queued or running (bounded; names the stuck runs).

        ``rerun_after`` ({run_id: end_date}) also waits until those runs started again after that time.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            runs = self.runs(dag_id)
            rerun = all((r["start_date"] or "") > rerun_after.get(r["dag_run_id"], "") for r in runs if r["dag_run_id"] in (rerun_after or {}))
            if len(runs) >= count and rerun and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}: runs not finished after {timeout_s} s: {[(r['dag_run_id'], r['state']) for r in runs]}; logs in {self.logs}")
            time.sleep(2)


def _embedded(ports: dict[str, int]):
    """scripts/embedded.py, loaded with this stack's ports (it reads them at import)."""
    os.environ.update({"CT_AIRFLOW_PORT": str(ports["airflow"]), "CT_MLFLOW_PORT": str(ports["mlflow"]), "CT_SERVING_PORT": str(ports["serving"])})
    spec = importlib.util.spec_from_file_location("ct_embedded_stack", ROOT / "scripts" / "embedded.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def models_dir(folder: Path) -> Path:
    """The project's model YAMLs, plus PRIVATE_MODELS (each a copy of the model it names) and LATE_MODEL:
    penguin_species with a one-minute run deadline."""
    import shutil

    from include.settings import MODELS_DIR

    folder.mkdir(parents=True)
    for path in MODELS_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    for name, original in PRIVATE_MODELS.items():
        shutil.copy(MODELS_DIR / f"{original}.yaml", folder / f"{name}.yaml")
    late = (MODELS_DIR / "penguin_species.yaml").read_text() + "\nalerts:\n  deadline_minutes: 1\n"
    (folder / f"{LATE_MODEL}.yaml").write_text(late)
    return folder


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from include.demo_data import seed_demo_sources
    from include.settings import Settings
    from tests.support.mailbox import Mailbox, start_server

    home = tmp_path_factory.mktemp("stack") / "state"
    ports = {name: free_port() for name in ("airflow", "mlflow", "serving")}
    embedded = _embedded(ports)
    settings = Settings.from_env({"CT_HOME": str(home)})
    mailbox = Mailbox()
    mail_server = start_server(mailbox)
    env = {
        **embedded.environment(settings),
        "CT_MODELS_DIR": str(models_dir(home.parent / "models")),
        # Alerts go to the owner by mail through a real SMTP server the tests read (no TLS on loopback).
        "AIRFLOW_CONN_CT_ALERTS": json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": mail_server.port,
                                              "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@localhost", "retry_limit": 0}}),
        # A killed task's retry starts after seconds, not the DAGs' default 30 s (test_killed_task.py).
        "CT_TASK_RETRY_DELAY_S": "3",
        "CT_MLFLOW_UI_URL": f"http://127.0.0.1:{ports['mlflow']}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Two cores for everything: few pre-forked workers, and no wait for the next run.
        "AIRFLOW__CORE__PARALLELISM": "2",
        # No nightly runs: the tests choose their runs (manual, backfill), so no unplanned training competes.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    password = embedded.admin_password(settings)
    seed_demo_sources(settings.sources_dir, DEMO_END)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env={**os.environ, **env}, cwd=ROOT, check=True, capture_output=True, timeout=600)
    # As `make run` does: a task in a pool that does not exist (version_snapshot, promote, deploy) is never scheduled.
    pools_env = {**os.environ, **env, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    subprocess.run([sys.executable, "-m", "ct_airflow.pools"], env=pools_env, cwd=ROOT, check=True, capture_output=True, timeout=300)

    components = Components(home / "logs", env)
    airflow = [sys.executable, "-m", "airflow"]
    try:
        components.start("mlflow", [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri,
                                    "--artifacts-destination", settings.mlflow_artifact_root, "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1"])
        components.start("model-server", [sys.executable, "-m", "include.serving", "--host", "127.0.0.1", "--port", str(ports["serving"])])
        components.start("api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(ports["airflow"])])
        components.start("scheduler", [*airflow, "scheduler", "--skip-serve-logs"])
        components.start("dag-processor", [*airflow, "dag-processor"])
        components.start("triggerer", [*airflow, "triggerer", "--skip-serve-logs"])
        url = f"http://127.0.0.1:{ports['airflow']}"
        wait_for_http(f"{url}/api/v2/monitor/health", 300)
        wait_for_http(f"http://127.0.0.1:{ports['serving']}/health", 120)
        api = Api(url, password)
        deadline = time.monotonic() + 300
        while not all(d in {x["dag_id"] for x in api.get("/dags", limit=100)["dags"]} for d in [*MODELS, *PRIVATE_MODELS, LATE_MODEL]):
            components.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs not loaded in 300 s; import errors: {api.get('/importErrors')}")
            time.sleep(2)
        wait_for_http(f"http://127.0.0.1:{ports['mlflow']}/health", 300)
        yield Stack(url, f"http://127.0.0.1:{ports['mlflow']}", f"http://127.0.0.1:{ports['serving']}", password, env, settings, api, home / "logs", mailbox, components)
    finally:
        components.stop()
        mail_server.stop()
        for key in ("CT_AIRFLOW_PORT", "CT_MLFLOW_PORT", "CT_SERVING_PORT"):
            os.environ.pop(key, None)


def registry(stack):
    from include.registry import Registry

    return Registry(stack.settings.mlflow_tracking_uri, stack.settings.mlflow_artifact_root)


def unpause(stack, dag_id: str) -> None:
    stack.api.patch(f"/dags/{dag_id}", {"is_paused": False})


def trigger(stack, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
    response = requests.post(
        f"{stack.url}/api/v2/dags/{dag_id}/dagRuns", headers=stack.api.headers, timeout=60,
        json={"logical_date": logical_date, "conf": conf or {}},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["dag_run_id"]


__all__ = ["Stack", "json", "registry", "trigger", "unpause"]
