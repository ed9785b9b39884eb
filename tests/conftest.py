"""Test-wide set-up: a private AIRFLOW_HOME and CT_HOME, before anything imports Airflow.

Airflow reads its configuration when it is first imported, so this must happen at
collection time, not in a fixture.
"""

import os
import tempfile
from dataclasses import dataclass
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


# Every test belongs to the tier of its folder (a marker of that name: `make test-fast` is
# `-m "unit or operators or dags"`), with a time limit per test, the set-up of its shared fixtures
# included (pytest-timeout), so that a hang fails naming its tier instead of eating CI's 90 minutes.
#
# Under pytest-xdist (`make test` runs two workers), a tier whose tests share a costly fixture (a
# platform, an engine, a server) is one group, run whole by one worker so that fixture is built once;
# the long tiers come first so that the two workers start on them and end together. The tiers left
# ungrouped are independent tests, spread test by test.
@dataclass(frozen=True)
class Tier:
    limit_s: int
    shared: bool  # its tests share a session/module fixture: one xdist group


TIERS = {  # in the order they are handed to the workers
    "docker": Tier(1800, True),
    "distributed": Tier(1500, True),
    "stack": Tier(1200, True),
    "e2e": Tier(900, True),
    "bench": Tier(1200, True),
    "serving": Tier(300, True),
    "security": Tier(300, False),
    "operators": Tier(300, False),
    "dags": Tier(180, False),
    "unit": Tier(120, False),
}


def tier_of(item) -> str | None:
    parts = Path(str(item.path)).relative_to(ROOT / "tests").parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(config, items):
    import pytest

    order = list(TIERS)
    items.sort(key=lambda item: order.index(tier_of(item)) if tier_of(item) else len(order))  # stable: file order within a tier
    for item in items:
        tier = tier_of(item)
        if tier is None:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIERS[tier].limit_s))
        if TIERS[tier].shared:
            item.add_marker(pytest.mark.xdist_group(tier))


def pytest_runtest_makereport(item, call):
    """Name the tier and its limit when pytest-timeout stopped a test."""
    if call.excinfo is not None and "Timeout" in str(call.excinfo.value):
        tier = tier_of(item)
        if tier:
            item.add_report_section(call.when, "timeout", f"{tier} tier: limit {TIERS[tier].limit_s} s per test, its shared fixtures' set-up included")
