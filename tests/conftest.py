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


# Every test belongs to the tier of its folder: `-m` selects tiers (make test-fast: unit, operators, dags),
# and each tier has its own time limit per test, set-up of its shared fixtures included (pytest-timeout),
# so a hang fails with the tier's name instead of eating CI's 90 minutes.
TIER_LIMITS_S = {
    "unit": 120,
    "dags": 180,
    "operators": 300,
    "serving": 300,
    "security": 300,
    "bench": 1200,
    "e2e": 900,
    "stack": 1200,
    "distributed": 1500,
    "docker": 1800,
}


def tier_of(item) -> str | None:
    parts = Path(str(item.path)).relative_to(ROOT / "tests").parts
    return parts[0] if len(parts) > 1 and parts[0] in TIER_LIMITS_S else None


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        tier = tier_of(item)
        if tier is None:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIER_LIMITS_S[tier]))


def pytest_runtest_makereport(item, call):
    """Name the tier and its limit when pytest-timeout stopped a test."""
    if call.excinfo is not None and "Timeout" in str(call.excinfo.value):
        tier = tier_of(item)
        if tier:
            item.add_report_section(call.when, "timeout", f"{tier} tier: limit {TIER_LIMITS_S[tier]} s per test, its shared fixtures' set-up included")
