"""Test-wide set-up: a private AIRFLOW_HOME and CT_HOME, before anything imports Airflow.

Airflow reads its configuration when it is first imported, so this must happen at
collection time, not in a fixture.
"""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest  # pytest imports no Airflow: the environment below is still set first

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
# platform, an engine, a server) is one unit of work, run whole by one worker so that the fixture is
# built once; the long tiers come first so that the two workers start on them and end together. The
# other tiers' tests are independent and spread one by one (pytest_xdist_make_scheduler below).
@dataclass(frozen=True)
class Tier:
    limit_s: int
    shared: bool  # its tests share a session/module fixture: one unit of work for xdist
    # Files run as a second unit (which builds the shared fixture again if it lands on another worker):
    # a tier too long for one worker is split in two where its files share least.
    own_unit: tuple[str, ...] = ()


TIERS = {  # in the order they are handed to the workers
    "docker": Tier(1800, True),
    "distributed": Tier(1500, True),
    "stack": Tier(1200, True, own_unit=("test_run_starts.py", "test_monitoring_loop.py")),
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

    order = list(TIERS)
    items.sort(key=lambda item: order.index(tier_of(item)) if tier_of(item) else len(order))  # stable: file order within a tier
    for item in items:
        tier = tier_of(item)
        if tier is None:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIERS[tier].limit_s))


def pytest_xdist_make_scheduler(config, log):
    """Work units by tier (xdist's own --dist loadgroup cannot group here: pytest 9 ignores the node id
    suffix it sets). Units are handed out in collection order, i.e. TIERS order."""
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            parts = nodeid.split("::")[0].split("/")
            tier = parts[1] if len(parts) > 2 and parts[0] == "tests" else None
            if tier not in TIERS or not TIERS[tier].shared:
                return nodeid
            return f"{tier}:2" if parts[-1] in TIERS[tier].own_unit else tier

    return TierScheduling(config, log)


def pytest_runtest_makereport(item, call):
    """Name the tier and its limit when pytest-timeout stopped a test."""
    if call.excinfo is not None and "Timeout" in str(call.excinfo.value):
        tier = tier_of(item)
        if tier:
            item.add_report_section(call.when, "timeout", f"{tier} tier: limit {TIERS[tier].limit_s} s per test, its shared fixtures' set-up included")
