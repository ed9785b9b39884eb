"""A refused batch, as a whole run shows it: the run fails at the task that refused the data, nothing
downstream runs, no model version is registered, and the champion keeps serving.

The whole matrix of damaged files (ten kinds) is decided by ``ingest`` or ``validate`` and tested at those
operators (tests/operators/test_bad_data_matrix.py); here one full DAG run per kind of refusal: this
module's for ``ingest`` (a file that cannot be read), test_pipeline_lifecycle's bad batch for ``validate``.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from include.registry import CHAMPION
from tests.e2e.conftest import predict
from tests.e2e.helpers import run_dag
from tests.e2e.test_pipeline_lifecycle import MODEL, registry, served, versions

pytestmark = pytest.mark.e2e

# A day that no other e2e test ingests (the shared first run's window ends on 2026-06-01).
LOGICAL = date(2026, 7, 1)
HEADER = "date,precipitation,temp_max,temp_min,wind,weather"


def test_a_batch_ingest_cannot_read_fails_the_run_there_and_the_champion_still_serves(platform, trained):
    day = LOGICAL - timedelta(days=1)
    folder = platform.sources_dir / "landing" / "seattle_weather" / f"date={day}"
    (folder / "part-0.csv").write_text(f"{HEADER}\n{day},0.0,18.3,9.4")  # truncated in the middle of a row
    before, champion = versions(platform), registry(platform).by_alias(MODEL, CHAMPION)

    states = run_dag(MODEL, LOGICAL.isoformat())

    assert states["_run"] == "failed", states
    assert states["ingest"] == "failed", states
    assert all(states[t] in ("upstream_failed", "skipped", "None") for t in ("version_snapshot", "validate", "train", "evaluate", "promote", "deploy")), states
    reasons = [p.read_text() for p in (platform.quarantine_dir / MODEL).glob("*/REASON.txt") if day.isoformat() in p.read_text()]
    assert len(reasons) == 1 and "part-0.csv" in reasons[0] and "cannot be read as csv" in reasons[0], reasons
    assert (platform.lake_dir / MODEL / f"date={day}.quarantined").exists()
    assert not (platform.lake_dir / MODEL / f"date={day}.parquet").exists()
    assert versions(platform) == before  # nothing trained
    assert registry(platform).by_alias(MODEL, CHAMPION).version == champion.version
    assert served(platform)["version"] == champion.version and predict(platform.serving_url).status_code == 200
