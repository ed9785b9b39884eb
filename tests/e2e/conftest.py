"""End-to-end fixtures: a migrated Airflow metadata DB, one platform (home with demo data, model server)
per pytest run, and its first trained champion, shared by every test that only needs one.

Tests that change the platform (new versions, quarantined days, served traffic) assert on what they
changed, never on a state another test may have moved, so any of them can run alone or in any order.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.helpers import run_dag
from tests.fixtures import DEMO_END
from tests.support.processes import model_server

SEATTLE = "seattle_temp_max"
FIRST_DAY = "2026-06-02"  # logical date of the shared first run; its data interval is the day before


@pytest.fixture(scope="session")
def airflow_db():
    """``airflow db migrate`` into the session's private AIRFLOW_HOME (set in tests/conftest.py)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy(), timeout=600)


@pytest.fixture(scope="session")
def platform(tmp_path_factory, airflow_db):
    """A whole embedded platform for the e2e tier: state folder, demo sources, model server.

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


@dataclass(frozen=True)
class FirstRun:
    """What seattle_temp_max's first nightly run left, read right after it (later tests may move the champion)."""

    states: dict
    champion: object
    served_version: str | None
    prediction: object


@pytest.fixture(scope="session")
def trained(platform) -> FirstRun:
    """seattle_temp_max's first run (logical date FIRST_DAY): trains, promotes and serves version 1."""
    from include.registry import CHAMPION, Registry

    states = run_dag(SEATTLE, FIRST_DAY)
    champion = Registry(platform.mlflow_tracking_uri, platform.mlflow_artifact_root).by_alias(SEATTLE, CHAMPION)
    served = requests.get(f"{platform.serving_url}/models/{SEATTLE}", timeout=10)
    return FirstRun(states, champion, served.json()["version"] if served.status_code == 200 else None, predict(platform.serving_url))


def predict(serving_url: str) -> requests.Response:
    body = {"dataframe_split": {"columns": ["temp_min", "precipitation", "wind", "weather"], "data": [[8.0, 0.0, 3.1, "sun"]]}}
    return requests.post(f"{serving_url}/models/{SEATTLE}/invocations", json=body, timeout=30)
