"""Test-wide set-up: a private AIRFLOW_HOME and CT_HOME, before anything imports Airflow.

Airflow reads its configuration when it is first imported, so this must happen at
collection time, not in a fixture.
"""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="ct-tests-"))

os.environ["AIRFLOW_HOME"] = str(_TMP / "airflow")
os.environ["CT_HOME"] = str(_TMP / "state")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_TMP / 'airflow' / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
(_TMP / "airflow").mkdir(parents=True, exist_ok=True)

pytest_plugins = ["tests.fixtures"]


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's private AIRFLOW_HOME and CT_HOME (kept when KEEP_TEST_STATE is set)."""
    if not os.environ.get("KEEP_TEST_STATE"):
        import shutil

        shutil.rmtree(_TMP, ignore_errors=True)
