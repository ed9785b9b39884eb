"""A real distributed platform, started as processes for one test module.

PostgreSQL and Redis are the machine's own (127.0.0.1:5432 and :6379, as in CI). The stack gets its own
databases (unique names), its own Redis database number and Celery queue, its own AIRFLOW_HOME per
process kind, and the production environment built by ``scripts/stack_env.py`` from variables only.
Every process is started in its own session and stopped by its PID; the databases are dropped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import ROOT, free_port, wait_for_http

PG_HOST, PG_PORT, REDIS_PORT = "127.0.0.1", 5432, 6379
PASSWORD = "distributed-tier"  # pragma: allowlist secret
WORKERS = ("worker-a", "worker-b")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"ct_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_env = _load("stack_env")
airflow_rest = _load("airflow_rest")


def unreachable() -> str | None:
    """Why the tier cannot run here, or None."""
    for what, port in (("PostgreSQL", PG_PORT), ("Redis", REDIS_PORT)):
        try:
            socket.create_connection((PG_HOST, port), timeout=2).close()
        except OSError as exc:
            return f"{what} is not reachable on {PG_HOST}:{port} ({exc}); start it (see .ci/run) to run the distributed tier"
    try:
        import psycopg2  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        return f"the stack's drivers are not installed ({exc}): make install"
    return None


def _pg(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


class Stack:
    """Databases, environment and processes of one distributed platform."""

    def __init__(self, base: Path):
        self.base = base
        self.suffix = secrets.token_hex(4)
        self.databases = (f"ct_airflow_{self.suffix}", f"ct_mlflow_{self.suffix}")
        self.redis_db = 1 + secrets.randbelow(15)
        self.queue = f"ct_{self.suffix}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.serving_url = f"http://127.0.0.1:{free_port()}"
        self.logs = base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = base / "shared" / "ct-home"

    # -- environment -------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        airflow_db, mlflow_db = self.databases
        outer = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW", "CT_"))}
        inputs = {
            **outer,
            "CT_AIRFLOW_DB_URL": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{airflow_db}",
            "CT_MLFLOW_BACKEND_STORE_URI": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{mlflow_db}",
            "CT_REDIS_URL": f"redis://{PG_HOST}:{REDIS_PORT}/{self.redis_db}",
            "CT_HOME": str(self.home),
            "CT_DVC_REMOTE": str(self.base / "shared" / "dvc-remote"),
            "CT_CELERY_WORKERS": str(len(WORKERS)),
            # One task slot per worker: two at once on two cores (six slots only made tasks wait for CPU).
            "CT_CELERY_CONCURRENCY": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
        env = stack_env.production_environment(inputs)
        passwords = self.base / "passwords.json"
        passwords.write_text(json.dumps({"admin": PASSWORD}))
        env.update(
            {
                "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.base / "airflow-home"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                # Every task goes to this stack's own queue: other Celery users of this Redis never see them.
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                # Every run the tests wait for is one they started (REST trigger or backfill), not a cron run.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__CORE__PARALLELISM": "8",
                # The retry after a killed worker starts at once (the DAGs' default is 30 s).
                "CT_TASK_RETRY_DELAY_S": "1",
                "CT_MLFLOW_ARTIFACT_ROOT": str(self.base / "shared" / "mlflow-artifacts"),
                "CT_SERVING_URL": self.serving_url,
                "CT_SERVING_ADMIN_TOKEN": secrets.token_hex(16),
                "AIRFLOW_CONN_PENGUINS_DB": json.dumps({"conn_type": "sqlite", "host": str(self.home / "sources" / "penguins.db")}),
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                "GIT_PYTHON_REFRESH": "quiet",
            }
        )
        return env

    # -- processes ---------------------------------------------------------------------------------
    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "wb") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def run(self, name: str, argv: list[str], env: dict, timeout_s: float = 600) -> None:
        with open(self.logs / f"{name}.log", "wb") as out:
            done = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}:\n{self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")

    def up(self) -> Stack:
        for database in self.databases:
            _pg(f'CREATE DATABASE "{database}"')
        self.env = env = self.environment()
        airflow = [sys.executable, "-m", "airflow"]
        from tests.fixtures import DEMO_END

        self.run("seed", [sys.executable, "-c", (f"from include.demo_data import seed_demo_sources; from include.settings import Settings; "
                          f"import datetime; seed_demo_sources(Settings.from_env().sources_dir, datetime.date.fromisoformat('{DEMO_END}'))")], env)
        # MLflow creates its schema on first use: once here, not by two workers racing.
        mlflow_init = subprocess.Popen([sys.executable, "-c", "import mlflow; mlflow.MlflowClient().search_experiments()"], cwd=ROOT, env=env,
                                       stdout=open(self.logs / "mlflow-init.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115 - open for the child's life
        self.run("db-migrate", [*airflow, "db", "migrate"], env)
        self.run("pools", [sys.executable, "-m", "ct_airflow.pools"], env)
        if mlflow_init.wait(timeout=600):
            raise RuntimeError(f"MLflow could not create its store on PostgreSQL:\n{self.log('mlflow-init')[-3000:]}")
        self.start("api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", self.api_url.rsplit(":", 1)[1]], env)
        self.start("scheduler", [*airflow, "scheduler"], env)
        self.start("dag-processor", [*airflow, "dag-processor"], env)
        for name in WORKERS:
            worker_env = {
                **env, "AIRFLOW_HOME": str(self.base / f"airflow-{name}"), "CT_WORKER_NAME": name,
                # Both workers share this machine: each reports its own name as the task instances' hostname.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.hostname.worker_name",
            }
            self.start(name, [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", self.queue,
                              "--concurrency", env["AIRFLOW__CELERY__WORKER_CONCURRENCY"], "--skip-serve-logs"], worker_env)
        self.start("model-server", [sys.executable, "-m", "include.serving", "--host", "127.0.0.1", "--port", self.serving_url.rsplit(":", 1)[1]], env)
        wait_for_http(f"{self.api_url}/api/v2/monitor/health", 300, self.processes["api-server"], self.logs / "api-server.log")
        wait_for_http(f"{self.serving_url}/health", 120, self.processes["model-server"], self.logs / "model-server.log")
        self.api = airflow_rest.AirflowRest(self.api_url, "admin", PASSWORD)
        for dag_id in ("seattle_temp_max", "penguin_species"):
            self.api.wait_for_dag(dag_id, timeout_s=300)
            self.api.unpause(dag_id)
        self.wait_for_workers()
        return self

    def wait_for_workers(self, timeout_s: float = 180) -> None:
        """Both workers answer a Celery ping (a task sent before would wait in the queue anyway)."""
        deadline = time.monotonic() + timeout_s
        argv = [sys.executable, "-m", "celery", "--app", "airflow.providers.celery.executors.celery_executor.app", "inspect", "ping", "--timeout", "5"]
        while True:
            self.check_alive()
            out = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=False).stdout
            if all(f"{name}@" in out for name in WORKERS):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Celery workers did not answer a ping within {timeout_s} s: {out[-1000:]}")
            time.sleep(1)

    def down(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for database in self.databases:
            _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        import redis

        client = redis.Redis(host=PG_HOST, port=REDIS_PORT, db=self.redis_db)
        for key in client.scan_iter(f"*{self.queue}*"):
            client.delete(key)
