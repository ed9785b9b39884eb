"""The lifecycle of one model, for real: first run, unchanged rerun, next day, bad batch.

Each step runs the whole DAG with ``dag.test()`` against a real SQLite MLflow
registry, a real DVC remote, real Great Expectations and the real model server.
"""

from __future__ import annotations

import pytest
import requests

from include.registry import CHAMPION, Registry
from tests.e2e.helpers import run_dag

pytestmark = pytest.mark.e2e

MODEL = "seattle_temp_max"
DAY1 = "2026-06-02"  # logical date; its data interval is the day before
DAY2 = "2026-06-03"
BAD_DAY = "2026-06-04"


def registry(platform) -> Registry:
    return Registry(platform.mlflow_tracking_uri, platform.mlflow_artifact_root)


def versions(platform) -> list[str]:
    return sorted(str(mv.version) for mv in registry(platform).client.search_model_versions(f"name = '{MODEL}'"))


def served(platform) -> dict:
    response = requests.get(f"{platform.serving_url}/models/{MODEL}", timeout=10)
    return response.json() if response.status_code == 200 else {}


def predict(platform) -> requests.Response:
    body = {"dataframe_split": {"columns": ["temp_min", "precipitation", "wind", "weather"], "data": [[8.0, 0.0, 3.1, "sun"]]}}
    return requests.post(f"{platform.serving_url}/models/{MODEL}/invocations", json=body, timeout=30)


def test_a_first_run_trains_promotes_and_serves_v1(platform):
    states = run_dag(MODEL, DAY1)

    assert states["_run"] == "success", states
    assert all(states[t] == "success" for t in ("ingest", "version_snapshot", "validate", "fingerprint", "train", "evaluate", "promote", "deploy")), states
    champion = registry(platform).by_alias(MODEL, CHAMPION)
    assert champion is not None and champion.version == "1"
    assert champion.tags["decision"] == "promote" and champion.tags["promoted_by"].startswith("airflow:")
    assert len(champion.tags["data_md5"]) == 32 and len(champion.tags["fingerprint"]) == 64
    assert served(platform)["version"] == "1"
    response = predict(platform)
    assert response.status_code == 200 and response.headers["X-Model-Version"] == "1"
    assert isinstance(response.json()["predictions"][0], float)


def test_b_same_logical_date_skips_training(platform):
    states = run_dag(MODEL, DAY1)

    assert states["_run"] == "success", states
    assert states["fingerprint"] == "success"
    assert (states["train"], states["evaluate"], states["promote"]) == ("skipped", "skipped", "skipped")
    assert states["deploy"] == "success"  # still makes sure the champion is served
    assert versions(platform) == ["1"]
    assert served(platform)["version"] == "1"


def test_b2_force_retrain_overrides_the_skip(platform):
    states = run_dag(MODEL, DAY1, force_retrain=True)

    assert states["train"] == "success", states
    assert versions(platform) == ["1", "2"]


def test_c_next_day_trains_a_new_challenger_judged_by_the_thresholds(platform):
    before = set(versions(platform))
    states = run_dag(MODEL, DAY2)

    assert states["_run"] == "success", states
    assert states["train"] == "success" and states["evaluate"] == "success"
    new = sorted(set(versions(platform)) - before)
    assert len(new) == 1
    version = registry(platform).version(MODEL, new[0])
    assert version.tags["decision"] in ("promote", "reject") and version.tags["decision_reason"]
    assert version.tags["compared_with_champion"] != "none"
    champion = registry(platform).by_alias(MODEL, CHAMPION)
    if version.tags["decision"] == "promote":
        assert states["promote"] == "success" and champion.version == new[0]
        assert registry(platform).by_alias(MODEL, "previous") is not None
    else:
        assert states["promote"] == "skipped" and champion.version != new[0]
    assert served(platform)["version"] == champion.version


def test_d_bad_batch_is_quarantined_nothing_trained_champion_still_served(platform):
    from datetime import date, timedelta

    bad_day = date.fromisoformat(BAD_DAY) - timedelta(days=1)  # the interval of that logical date
    landing = platform.sources_dir / "landing" / "seattle_weather" / f"date={bad_day}" / "part-0.csv"
    (platform.home / "good-copy.csv").write_text(landing.read_text())  # test_g restores it
    landing.write_text(f"date,precipitation,temp_max,temp_min,wind,weather\n{bad_day},0.0,999.0,5.0,2.0,sun\n")
    before, champion = versions(platform), registry(platform).by_alias(MODEL, CHAMPION)

    states = run_dag(MODEL, BAD_DAY)

    assert states["_run"] == "failed"
    assert states["validate"] == "failed"
    assert all(states[t] == "upstream_failed" for t in ("fingerprint", "train", "evaluate", "promote", "deploy")), states
    assert versions(platform) == before
    assert served(platform)["version"] == champion.version and predict(platform).status_code == 200
    quarantined = list((platform.quarantine_dir / MODEL).glob("*/date=*.parquet"))
    assert [p.name for p in quarantined] == [f"date={bad_day}.parquet"]
    reason = next((platform.quarantine_dir / MODEL).glob("*/REASON.txt")).read_text()
    assert "temp_max" in reason and "expect_column_values_to_be_between" in reason
    assert not (platform.lake_dir / MODEL / f"date={bad_day}.parquet").exists()  # the lake keeps validated data only
    assert (platform.lake_dir / MODEL / f"date={bad_day}.quarantined").exists()
    assert list(platform.reports_dir.glob(f"{MODEL}/*/data_docs/**/*.html"))


def test_e_the_sql_source_model_runs_through_its_airflow_connection(platform):
    """The penguin model reads an SQL query over the AIRFLOW_CONN_PENGUINS_DB connection."""
    states = run_dag("penguin_species", "2026-12-02")

    assert states["_run"] == "success", states
    assert states["promote"] == "success" and states["deploy"] == "success"
    body = {"dataframe_split": {
        "columns": ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"],
        "data": [[46.5, 14.8, 217.0, 5200.0, "Biscoe", "FEMALE"], [39.0, 18.5, 185.0, 3600.0, "Torgersen", None]],
    }}
    response = requests.post(f"{platform.serving_url}/models/penguin_species/invocations", json=body, timeout=30)
    assert response.status_code == 200
    assert response.json()["predictions"] == ["Gentoo penguin (Pygoscelis papua)", "Adelie Penguin (Pygoscelis adeliae)"]


def test_f_lineage_leads_from_the_champion_to_its_data_and_status_reports_it(platform, tmp_path):
    """The documented commands: show a version's lineage, fetch its snapshot back by md5."""
    import hashlib
    import json
    import os
    import subprocess
    import sys

    from include.settings import MODELS_DIR
    from include.status import model_status

    env = {**os.environ, "PYTHONPATH": str(MODELS_DIR.parent.parent)}
    shown = subprocess.run([sys.executable, "-m", "include.lineage", "show", "--model", MODEL], capture_output=True, text=True, env=env, check=True)
    lineage = json.loads(shown.stdout)
    assert {"data_md5", "fingerprint", "git_commit", "airflow_run_id", "promoted_by", "decision_reason"} <= set(lineage)

    out = tmp_path / "snapshot.parquet"
    subprocess.run([sys.executable, "-m", "include.lineage", "fetch-snapshot", "--md5", lineage["data_md5"], "--out", str(out)], env=env, check=True, capture_output=True)
    assert hashlib.md5(out.read_bytes()).hexdigest() == lineage["data_md5"]

    status = model_status(MODELS_DIR / f"{MODEL}.yaml", platform)
    assert status["champion"]["version"] == lineage["version"] == status["served_version"]
    assert status["champion"]["data_md5"] == lineage["data_md5"] and status["champion"]["metrics"]["rmse"] > 0


def test_g_the_next_day_trains_without_the_quarantined_day_and_a_fixed_day_comes_back(platform):
    from datetime import date, timedelta

    import pandas as pd

    bad_day = date.fromisoformat(BAD_DAY) - timedelta(days=1)
    snapshot = platform.dvc_workspace / "snapshots" / MODEL / "snapshot.parquet"
    states = run_dag(MODEL, (date.fromisoformat(BAD_DAY) + timedelta(days=1)).isoformat())
    assert states["_run"] == "success", states
    assert pd.Timestamp(bad_day) not in set(pd.read_parquet(snapshot)["date"])

    # Upstream fixes the file; re-running the bad date reads it again and releases the day.
    landing = platform.sources_dir / "landing" / "seattle_weather" / f"date={bad_day}" / "part-0.csv"
    landing.write_text((platform.home / "good-copy.csv").read_text())
    states = run_dag(MODEL, BAD_DAY)
    assert states["validate"] == "success", states
    assert not (platform.lake_dir / MODEL / f"date={bad_day}.quarantined").exists()
    assert pd.Timestamp(bad_day) in set(pd.read_parquet(snapshot)["date"])
