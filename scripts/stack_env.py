"""The production configuration, built from environment variables only (no code edits).

    eval "$(python scripts/stack_env.py)"     # export it into a shell, then start the components
    python scripts/stack_env.py --check       # validate and print it with passwords masked

The same DAGs, operators and core run on the distributed stack when the environment says so:

| input variable | what | becomes |
|---|---|---|
| ``CT_AIRFLOW_DB_URL`` | PostgreSQL URL of Airflow's metadata database | ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (psycopg2), ``AIRFLOW__CELERY__RESULT_BACKEND`` (``db+``) |
| ``CT_REDIS_URL`` | Redis URL of the Celery broker | ``AIRFLOW__CELERY__BROKER_URL`` |
| ``CT_MLFLOW_BACKEND_STORE_URI`` | PostgreSQL URL of MLflow's tracking store and registry | the MLflow server's ``--backend-store-uri``; the tracking URI too when no server is named |
| ``MLFLOW_TRACKING_URI`` | optional: an MLflow server (``http://...``) | the workers' tracking URI |
| ``CT_HOME``, ``CT_DVC_REMOTE`` | folders every worker mounts at the same path | the state folder (DVC workspace, lake), the DVC remote |
| ``CT_CELERY_WORKERS``, ``CT_CELERY_CONCURRENCY`` | how many Celery workers to start, task slots each | ``AIRFLOW__CELERY__WORKER_CONCURRENCY`` |
| ``AIRFLOW__API_AUTH__JWT_SECRET``, ``AIRFLOW__CORE__FERNET_KEY`` | secrets every component must share | passed through (required) |

Everything else in the environment is passed through unchanged, so any ``AIRFLOW__*`` setting can be added.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from urllib.parse import urlsplit, urlunsplit

EXECUTOR = "CeleryExecutor"
SHARED_SECRETS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY")


class StackConfigError(ValueError):
    """An input variable is missing or malformed; the message names it, what was expected and what was found."""


def mask(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _required(env, name: str, expected: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise StackConfigError(f"{name}: expected {expected}, found it unset or empty")
    return value


def postgres_url(env, name: str) -> str:
    """A PostgreSQL URL for SQLAlchemy with the psycopg2 driver (the one Airflow and MLflow both load)."""
    value = _required(env, name, "a PostgreSQL URL such as postgresql://user:password@host:5432/database")
    parts = urlsplit(value)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("postgresql", "postgres"):
        raise StackConfigError(f"{name}: expected a postgresql:// URL, found scheme {parts.scheme!r} in {mask(value)}")
    if not parts.hostname or not parts.path.strip("/"):
        raise StackConfigError(f"{name}: expected a host and a database name, found {mask(value)}")
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def redis_url(env, name: str = "CT_REDIS_URL") -> str:
    value = _required(env, name, "a Redis URL such as redis://:password@host:6379/0")
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StackConfigError(f"{name}: expected a redis:// or rediss:// URL with a host, found {mask(value)}")
    return value


def shared_folder(env, name: str) -> str:
    value = _required(env, name, "an absolute path that every worker mounts at the same place (or an s3:// URL for the remote)")
    if "://" in value:
        return value
    if not os.path.isabs(value):
        raise StackConfigError(f"{name}: expected an absolute path shared by every worker, found the relative path {value!r}")
    return value


def positive_int(env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise StackConfigError(f"{name}: expected a whole number of at least 1, found {raw!r}")
    return value


def celery_workers(env) -> int:
    """How many Celery workers the starter should run (``CT_CELERY_WORKERS``, default 1)."""
    return positive_int(env, "CT_CELERY_WORKERS", 1)


def production_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The full environment of every component of the distributed stack (input passed through, outputs added)."""
    env = dict(os.environ if environ is None else environ)
    airflow_db = postgres_url(env, "CT_AIRFLOW_DB_URL")
    mlflow_store = postgres_url(env, "CT_MLFLOW_BACKEND_STORE_URI")
    if mlflow_store == airflow_db:
        raise StackConfigError(
            f"CT_MLFLOW_BACKEND_STORE_URI: expected a database of its own, found the Airflow metadata database {mask(airflow_db)} "
            "(both run schema migrations: they must not share one)"
        )
    tracking = env.get("MLFLOW_TRACKING_URI", "").strip() or mlflow_store
    if urlsplit(tracking).scheme not in ("http", "https", "postgresql", "postgresql+psycopg2", "postgres"):
        raise StackConfigError(f"MLFLOW_TRACKING_URI: expected an MLflow server (http://...) or PostgreSQL, found {mask(tracking)}")
    for name in SHARED_SECRETS:
        _required(env, name, "a secret shared by every Airflow component (each would otherwise generate its own and reject the others')")
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
            "AIRFLOW__CELERY__BROKER_URL": redis_url(env),
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(positive_int(env, "CT_CELERY_CONCURRENCY", 4)),
            "CT_CELERY_WORKERS": str(celery_workers(env)),
            "CT_MLFLOW_BACKEND_STORE_URI": mlflow_store,
            "MLFLOW_TRACKING_URI": tracking,
            "CT_HOME": shared_folder(env, "CT_HOME"),
            "CT_DVC_REMOTE": shared_folder(env, "CT_DVC_REMOTE"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "False"),
            # Every mode requires a login (as in the embedded default and the compose file).
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        }
    )
    return env


def exports(env: dict[str, str], keys) -> str:
    return "".join(f"export {key}={shlex.quote(env[key])}\n" for key in keys)


OUTPUTS = (
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY", "CT_CELERY_WORKERS", "CT_MLFLOW_BACKEND_STORE_URI", "MLFLOW_TRACKING_URI", "CT_HOME",
    "CT_DVC_REMOTE", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="validate and print the settings with passwords masked")
    args = parser.parse_args(argv)
    try:
        env = production_environment()
    except StackConfigError as exc:
        print(f"stack_env: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for key in OUTPUTS:
            print(f"{key}={mask(env[key])}")
    else:
        sys.stdout.write(exports(env, OUTPUTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
