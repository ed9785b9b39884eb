"""The production configuration is built from environment variables only, with errors that name the variable."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.support.processes import ROOT


def stack_env_module():
    spec = importlib.util.spec_from_file_location("ct_stack_env", ROOT / "scripts" / "stack_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_env = stack_env_module()

INPUT = {
    "CT_AIRFLOW_DB_URL": "postgresql://airflow:s3cret@db.internal:5432/airflow",  # pragma: allowlist secret
    "CT_MLFLOW_BACKEND_STORE_URI": "postgresql://mlflow:m1@db.internal:5432/mlflow",  # pragma: allowlist secret
    "CT_REDIS_URL": "redis://:r3dis@broker.internal:6379/0",  # pragma: allowlist secret
    "CT_HOME": "/mnt/shared/ct",
    "CT_DVC_REMOTE": "/mnt/shared/dvc-remote",
    "CT_CELERY_WORKERS": "2",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt",  # pragma: allowlist secret
    "AIRFLOW__CORE__FERNET_KEY": "fernet",  # pragma: allowlist secret
    "AIRFLOW__CORE__PARALLELISM": "8",
}


def test_builds_celery_postgres_redis_and_shared_folders_from_the_environment():
    env = stack_env.production_environment(dict(INPUT))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:s3cret@db.internal:5432/airflow"  # pragma: allowlist secret
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://airflow:s3cret@db.internal:5432/airflow"  # pragma: allowlist secret
    assert env["AIRFLOW__CELERY__BROKER_URL"] == INPUT["CT_REDIS_URL"]
    # No MLflow server named: the workers talk to the PostgreSQL store directly.
    assert env["MLFLOW_TRACKING_URI"] == "postgresql+psycopg2://mlflow:m1@db.internal:5432/mlflow"  # pragma: allowlist secret
    assert env["CT_DVC_REMOTE"] == "/mnt/shared/dvc-remote" and env["CT_HOME"] == "/mnt/shared/ct"
    assert env["CT_CELERY_WORKERS"] == "2" and env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "4"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"  # anything else passes through


def test_an_mlflow_server_wins_over_the_direct_store():
    env = stack_env.production_environment({**INPUT, "MLFLOW_TRACKING_URI": "http://mlflow:5000"})
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["CT_MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CT_AIRFLOW_DB_URL": ""}, "CT_AIRFLOW_DB_URL: expected a PostgreSQL URL"),
        ({"CT_AIRFLOW_DB_URL": "sqlite:////tmp/a.db"}, "CT_AIRFLOW_DB_URL: expected a postgresql:// URL, found scheme 'sqlite'"),
        ({"CT_MLFLOW_BACKEND_STORE_URI": "postgresql://mlflow:m1@db.internal:5432"}, "expected a host and a database name"),  # pragma: allowlist secret
        ({"CT_MLFLOW_BACKEND_STORE_URI": INPUT["CT_AIRFLOW_DB_URL"]}, "expected a database of its own"),
        ({"CT_REDIS_URL": "amqp://guest@rabbit"}, "CT_REDIS_URL: expected a redis:// or rediss:// URL"),
        ({"CT_DVC_REMOTE": "dvc-remote"}, "CT_DVC_REMOTE: expected an absolute path shared by every worker, found the relative path 'dvc-remote'"),
        ({"CT_CELERY_WORKERS": "two"}, "CT_CELERY_WORKERS: expected a whole number of at least 1, found 'two'"),
        ({"CT_CELERY_WORKERS": "0"}, "found '0'"),
        ({"AIRFLOW__API_AUTH__JWT_SECRET": ""}, "AIRFLOW__API_AUTH__JWT_SECRET: expected a secret shared by every Airflow component"),
        ({"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, "MLFLOW_TRACKING_URI: expected an MLflow server"),
    ],
)
def test_bad_input_names_the_variable_and_what_was_expected(change, message):
    with pytest.raises(stack_env.StackConfigError, match=None) as raised:
        stack_env.production_environment({**INPUT, **change})
    assert message in str(raised.value)


def test_errors_never_show_a_password():
    with pytest.raises(stack_env.StackConfigError) as raised:
        stack_env.production_environment({**INPUT, "CT_MLFLOW_BACKEND_STORE_URI": "mysql://u:topsecret@db/mlflow"})  # pragma: allowlist secret
    assert "topsecret" not in str(raised.value) and "***" in str(raised.value)


def test_the_command_line_exports_for_a_shell_and_masks_on_check():
    env = {**INPUT, "PATH": "/usr/bin:/bin"}
    script = str(ROOT / "scripts" / "stack_env.py")
    exported = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, check=True).stdout
    shell = subprocess.run(["bash", "-c", f"{exported}\nprintf %s \"$AIRFLOW__CORE__EXECUTOR|$AIRFLOW__CELERY__BROKER_URL\""], capture_output=True, text=True, check=True)
    assert shell.stdout == f"CeleryExecutor|{INPUT['CT_REDIS_URL']}"
    checked = subprocess.run([sys.executable, script, "--check"], env=env, capture_output=True, text=True, check=True).stdout
    assert "s3cret" not in checked and "postgresql+psycopg2://airflow:***@db.internal:5432/airflow" in checked
    failed = subprocess.run([sys.executable, script], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and "CT_AIRFLOW_DB_URL" in failed.stderr
