"""End-to-end fixtures: a migrated Airflow metadata DB, a platform home with demo data, a model server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.fixtures import DEMO_END
from tests.support.processes import model_server


@pytest.fixture(scope="session")
def airflow_db():
    """``airflow db migrate`` into the session's private AIRFLOW_HOME (set in tests/conftest.py)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy(), timeout=600)


@pytest.fixture(scope="module")
def platform(tmp_path_factory, airflow_db):
    """A whole embedded platform for one test module: state folder, demo sources, model server.

    The environment is set on the process because ``dag.test()`` runs the tasks in it.
    """
    from include.demo_data import seed_demo_sources
    from include.settings import Settings

    home = tmp_path_factory.mktemp("platform")
    # The model server's admin actions are never open: the deploy task authenticates with this token.
    env = {"CT_HOME": str(home), "CT_SERVING_ADMIN_TOKEN": secrets.token_hex(16), "AIRFLOW_CONN_PENGUINS_DB": json.dumps({"conn_type": "sqlite", "host": f"{home}/sources/penguins.db"})}
    saved = {k: os.environ.get(k) for k in [*env, "CT_SERVING_URL", "MLFLOW_TRACKING_URI"]}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    settings = Settings.from_env()
    seed_demo_sources(settings.sources_dir, DEMO_END)
    with model_server(env, home / "model-server.log") as url:
        os.environ["CT_SERVING_URL"] = url
        yield Settings.from_env()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
