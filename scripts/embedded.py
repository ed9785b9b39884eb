"""The embedded default: the whole platform on one machine, all state under ``$CT_HOME``.

    python scripts/embedded.py start    # what `make run` does
    python scripts/embedded.py status   # JSON per model (`make status`)
    python scripts/embedded.py stop     # stop every process we started (`make stop`)

``start`` does what ``airflow standalone`` does (api-server, scheduler, dag-processor,
triggerer on LocalExecutor + SQLite), but binds everything to 127.0.0.1 and starts
the log servers not at all (standalone binds them to every interface). It also
starts the MLflow UI and the model server, unpauses every model DAG (whose first
nightly run then starts at once) and returns when the first model is served.
Processes run in their own sessions and are tracked by PID files in ``$CT_HOME/pids``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from include.settings import MODELS_DIR, Settings
from include.spec import discover_specs

AIRFLOW_PORT = int(os.environ.get("CT_AIRFLOW_PORT", "8080"))
MLFLOW_PORT = int(os.environ.get("CT_MLFLOW_PORT", "5000"))
SERVING_PORT = int(os.environ.get("CT_SERVING_PORT", "5001"))
AIRFLOW_URL = f"http://127.0.0.1:{AIRFLOW_PORT}"
FIRST_SERVE_TIMEOUT_S = int(os.environ.get("CT_FIRST_SERVE_TIMEOUT", "1200"))


def say(message: str) -> None:
    print(f"[ct {time.strftime('%H:%M:%S')}] {message}", flush=True)


# The venv's bin folder (not resolved: its python may be a link to the system's), where `airflow` is.
VENV_BIN = Path(sys.executable).parent


def environment(settings: Settings) -> dict[str, str]:
    """Everything the components need; also written to $CT_HOME/env.sh for the airflow CLI."""
    airflow_home = settings.home / "airflow"
    return {
        "CT_HOME": str(settings.home),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # LocalExecutor pre-forks this many workers (~130 MB each); 2 cores need few.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{AIRFLOW_URL}/execution/",
        # Every mode requires a login: never let the simple auth manager make everyone an admin.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__API__BASE_URL": AIRFLOW_URL,
        # Seconds between tasks: the default idle sleep (1 s) is most of a skipped run's time.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW_CONN_PENGUINS_DB": json.dumps({"conn_type": "sqlite", "host": str(settings.sources_dir / "penguins.db")}),
        "CT_SERVING_URL": f"http://127.0.0.1:{SERVING_PORT}",
        # The model server refuses admin actions without a token; the deploy task sends this one.
        "CT_SERVING_ADMIN_TOKEN": serving_admin_token(settings),
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "GIT_PYTHON_REFRESH": "quiet",
    }


# Secrets stay in their 0600 files: env.sh reads them from there instead of holding them.
SECRET_FILES = {"CT_SERVING_ADMIN_TOKEN": ("serving", "admin_token")}


def secret_file(settings: Settings, name: str) -> Path:
    return settings.home.joinpath(*SECRET_FILES[name])


def serving_admin_token(settings: Settings) -> str:
    """One random model-server admin token per state folder (mode 600)."""
    path = secret_file(settings, "CT_SERVING_ADMIN_TOKEN")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def write_env_file(settings: Settings, env: dict[str, str]) -> Path:
    """$CT_HOME/env.sh for the airflow CLI: settings as values, secrets as reads of their files."""
    lines = []
    for key, value in env.items():
        if key == "PATH":
            # The venv first, then the PATH of the shell that sources this: `airflow` is the venv's.
            lines.append(f'export PATH={json.dumps(str(VENV_BIN))}"{os.pathsep}$PATH"\n')
            continue
        if key in SECRET_FILES:
            lines.append(f'export {key}="$(cat {json.dumps(str(secret_file(settings, key)))})"\n')
        else:
            lines.append(f"export {key}={json.dumps(value)}\n")
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "env.sh"
    path.write_text("".join(lines))
    return path


def admin_password(settings: Settings) -> str:
    """One random password per state folder, kept in the file Airflow's simple auth manager reads."""
    path = settings.home / "airflow" / "passwords.json"
    if path.exists():
        return json.loads(path.read_text())["admin"]
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600)  # private before the password is in it
    path.write_text(json.dumps({"admin": password}))
    return password


class Processes:
    def __init__(self, settings: Settings):
        self.pids = settings.home / "pids"
        self.logs = settings.home / "logs"

    def running(self, name: str) -> int | None:
        pid_file = self.pids / f"{name}.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pid_file.unlink()
            return None
        return pid

    def start(self, name: str, argv: list[str], env: dict) -> None:
        if self.running(name):
            say(f"{name} already running")
            return
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (self.pids / f"{name}.pid").write_text(str(process.pid))
        say(f"started {name} (pid {process.pid}, log {self.logs / f'{name}.log'})")

    def stop_all(self) -> None:
        names = sorted(p.stem for p in self.pids.glob("*.pid")) if self.pids.exists() else []
        for name in names:
            pid = self.running(name)
            if pid:
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name in names:
            while (pid := self.running(name)) and time.monotonic() < deadline:
                time.sleep(0.3)
            if pid := self.running(name):
                os.killpg(pid, signal.SIGKILL)
            (self.pids / f"{name}.pid").unlink(missing_ok=True)
            say(f"stopped {name}")

    def check(self, name: str) -> None:
        if not self.running(name):
            tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"{name} exited during start-up; the end of its log:\n{tail}")


def wait_http(url: str, what: str, processes: Processes, name: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        processes.check(name)
        try:
            if requests.get(url, timeout=3).status_code < 500:
                say(f"{what} is up at {url}")
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit(f"{what} did not answer at {url} within {timeout_s} s; see {processes.logs / (name + '.log')}")


class AirflowApi:
    def __init__(self, password: str):
        response = requests.post(f"{AIRFLOW_URL}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, **params) -> dict:
        response = requests.get(f"{AIRFLOW_URL}/api/v2{path}", headers=self.headers, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def patch(self, path: str, body: dict) -> dict:
        response = requests.patch(f"{AIRFLOW_URL}/api/v2{path}", headers=self.headers, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def last_run(self, dag_id: str) -> dict | None:
        runs = self.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1).get("dag_runs", [])
        return runs[0] if runs else None


def model_ids() -> list[str]:
    return [p.stem for p in discover_specs(MODELS_DIR)]


def start() -> None:
    started = time.monotonic()
    settings = Settings.from_env()
    env = environment(settings)
    os.environ.update(env)
    processes = Processes(settings)
    write_env_file(settings, env)
    password = admin_password(settings)

    say("seeding the demo sources (once per state folder)")
    subprocess.run([sys.executable, "-m", "include.demo_data"], cwd=ROOT, check=True)
    say("migrating the Airflow metadata database")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    # Tasks in a pool that does not exist are never scheduled.
    subprocess.run([sys.executable, "-m", "ct_airflow.pools"], cwd=ROOT, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)

    airflow = [sys.executable, "-m", "airflow"]
    processes.start("mlflow", [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri,
                               "--artifacts-destination", settings.mlflow_artifact_root, "--host", "127.0.0.1",
                               "--port", str(MLFLOW_PORT), "--workers", "1"], env)
    processes.start("model-server", [sys.executable, "-m", "include.serving", "--host", "127.0.0.1", "--port", str(SERVING_PORT)], env)
    processes.start("api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(AIRFLOW_PORT)], env)
    processes.start("scheduler", [*airflow, "scheduler", "--skip-serve-logs"], env)
    processes.start("dag-processor", [*airflow, "dag-processor"], env)
    processes.start("triggerer", [*airflow, "triggerer", "--skip-serve-logs"], env)

    wait_http(f"{AIRFLOW_URL}/api/v2/monitor/health", "Airflow", processes, "api-server", 300)
    wait_http(f"http://127.0.0.1:{SERVING_PORT}/health", "model server", processes, "model-server")
    api = AirflowApi(password)
    wanted = model_ids()
    say(f"waiting for the dag-processor to load {wanted}")
    deadline = time.monotonic() + 300
    while True:
        loaded = {d["dag_id"]: d for d in api.get("/dags", limit=100)["dags"]}
        if all(dag_id in loaded for dag_id in wanted):
            break
        if time.monotonic() > deadline:
            errors = api.get("/importErrors").get("import_errors", [])
            raise SystemExit(f"DAGs not loaded within 300 s (have {sorted(loaded)}); import errors: {errors}")
        time.sleep(2)
    for dag_id in wanted:
        if loaded[dag_id]["is_paused"]:
            api.patch(f"/dags/{dag_id}", {"is_paused": False})
            say(f"unpaused {dag_id}: its first nightly run (the latest complete day) starts now")
    # The monitoring DAGs need no unpausing: created unpaused, they skip while their model is paused.

    wait_http(f"http://127.0.0.1:{MLFLOW_PORT}/health", "MLflow UI", processes, "mlflow", 300)
    say("waiting for the first model to be served (first runs train every model; this takes a few minutes)")
    deadline = time.monotonic() + FIRST_SERVE_TIMEOUT_S
    last_report = ""
    while True:
        try:
            served = requests.get(f"http://127.0.0.1:{SERVING_PORT}/health", timeout=5).json()["models"]
            if served:
                break
            runs = {dag_id: api.last_run(dag_id) for dag_id in wanted}
        except requests.RequestException as exc:
            # A busy machine (the first runs train while SQLite serialises writes) can make one poll time
            # out; only the overall deadline decides that the start failed.
            processes.check("api-server")
            processes.check("model-server")
            say(f"still waiting ({type(exc).__name__}: the API answered slowly; retrying)")
            if time.monotonic() > deadline:
                raise SystemExit(f"no model served after {FIRST_SERVE_TIMEOUT_S} s; open {AIRFLOW_URL} to see why") from exc
            time.sleep(3)
            continue
        report = ", ".join(f"{d}: {r['state'] if r else 'no run yet'}" for d, r in runs.items())
        if report != last_report:
            say(report)
            last_report = report
        if runs and all(r and r["state"] == "failed" for r in runs.values()):
            raise SystemExit(f"every first run failed; open {AIRFLOW_URL} (admin / {password}) and read the task logs")
        if time.monotonic() > deadline:
            raise SystemExit(f"no model served after {FIRST_SERVE_TIMEOUT_S} s; open {AIRFLOW_URL} to see why")
        time.sleep(3)

    name, version = next(iter(served.items()))
    example = _example_request(settings, name, version)
    elapsed = time.monotonic() - started
    print(
        f"""
The platform is up ({elapsed:.0f} s). First model served: {name} version {version}.

  Airflow UI    {AIRFLOW_URL}      login: admin / {password}
  MLflow UI     http://127.0.0.1:{MLFLOW_PORT}
  Model server  http://127.0.0.1:{SERVING_PORT}/models/{name}/invocations

  Example request:
    curl -s -X POST http://127.0.0.1:{SERVING_PORT}/models/{name}/invocations \\
         -H 'Content-Type: application/json' -d '{json.dumps(example)}'

  make status   models, champions, served versions, last runs (JSON)
  make stop     stop everything (state is kept);  make clean  wipe all state
  source .state/env.sh   to use the airflow CLI against this platform
""",
        flush=True,
    )


def _example_request(settings: Settings, name: str, version: str) -> dict:
    from include.deploy import smoke_request
    from include.registry import Registry, serving_example

    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    return smoke_request(serving_example(registry, registry.version(name, version)))


def status() -> None:
    from include.status import model_status

    settings = Settings.from_env()
    os.environ.update(environment(settings))
    api = None
    try:
        api = AirflowApi(admin_password(settings))
    except (requests.RequestException, KeyError, OSError):
        pass
    report = []
    for path in discover_specs(MODELS_DIR):
        entry = model_status(path, settings)
        run = None
        if api is not None:
            try:
                run = api.last_run(path.stem)
            except requests.RequestException:
                pass
        entry["last_dag_run"] = (
            {"run_id": run["dag_run_id"], "state": run["state"], "data_interval_start": run.get("data_interval_start"), "end_date": run.get("end_date")}
            if run else ("airflow is not running" if api is None else None)
        )
        report.append(entry)
    print(json.dumps(report, indent=2, default=str))


def stop() -> None:
    Processes(Settings.from_env()).stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "status", "stop"])
    command = parser.parse_args().command
    {"start": start, "status": status, "stop": stop}[command]()


if __name__ == "__main__":
    main()
