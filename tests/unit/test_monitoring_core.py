"""The monitoring core on small in-memory data: drift statistics, the outcome join, the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.monitoring.check import check, join_outcomes, live_frame
from include.monitoring.drift import categorical_drift, feature_drift, numeric_drift
from include.monitoring.scenarios import degrade, from_training, shifted
from include.settings import MODELS_DIR
from include.spec import load_spec

SPEC = load_spec(MODELS_DIR / "seattle_temp_max.yaml")
PENGUINS = load_spec(MODELS_DIR / "penguin_species.yaml")


def training(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp_min = rng.normal(8, 4, rows)
    return pd.DataFrame({
        "temp_min": temp_min, "precipitation": rng.exponential(3, rows), "wind": rng.gamma(3, 1.1, rows),
        "weather": rng.choice(["sun", "rain", "fog", "drizzle", "snow"], rows, p=[0.45, 0.4, 0.07, 0.05, 0.03]),
        "temp_max": temp_min + 8 + rng.normal(0, 2, rows),
    })


def logged(frame: pd.DataFrame, version: str = "1", predictions=None) -> list[dict]:
    predictions = frame["temp_max"].tolist() if predictions is None else predictions
    return [{"request_id": f"r{i // 10}", "row": i % 10, "ts": 100.0 + i, "version": version, "prediction": p,
             "features": {c: frame[c].iloc[i] for c in SPEC.features.all}} for i, p in enumerate(predictions)]


def test_same_distribution_does_not_drift_and_shifted_does():
    ref = training()
    same = from_training(SPEC, ref, 200, seed=2)
    moved = shifted(SPEC, ref, 200, seed=2)

    calm = feature_drift(ref, same, SPEC.features.numeric, SPEC.features.categorical, 0.01, 0.2)
    drifted = feature_drift(ref, moved, SPEC.features.numeric, SPEC.features.categorical, 0.01, 0.2)

    assert [d.feature for d in calm] == ["temp_min", "precipitation", "wind", "weather"]
    assert not any(d.drifted for d in calm), calm
    assert all(d.drifted for d in drifted), drifted
    assert {d.test for d in drifted} == {"ks", "chi2"}


def test_statistics_are_scipys():
    from scipy import stats

    a, b = pd.Series([1.0, 2, 3, 4, 5]), pd.Series([3.0, 4, 5, 6, 7, None])
    result = numeric_drift("x", a, b, 0.05, 0.1)
    expected = stats.ks_2samp([1, 2, 3, 4, 5], [3, 4, 5, 6, 7])
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.live_rows == 5  # nulls are not values

    cat = categorical_drift("c", pd.Series(["a"] * 50 + ["b"] * 50), pd.Series(["a"] * 90 + ["b"] * 10), 0.01, 0.1)
    assert cat.drifted and cat.p_value < 1e-6 and 0 < cat.statistic <= 1


def test_a_new_category_or_nulls_count_as_drift_and_one_category_does_not_crash():
    cat = categorical_drift("c", pd.Series(["a"] * 100), pd.Series([None] * 60 + ["a"] * 40), 0.01, 0.1)
    assert cat.drifted
    same = categorical_drift("c", pd.Series(["a"] * 10), pd.Series(["a"] * 10), 0.01, 0.1)
    assert not same.drifted and same.p_value == 1.0


def test_missing_feature_says_which_and_where():
    with pytest.raises(ValueError, match=r"missing \[\('live', 'wind'\)\]"):
        feature_drift(training(), training().drop(columns="wind"), ["wind"], [], 0.01, 0.1)


def test_outcomes_join_on_request_id_and_row_latest_wins():
    live = live_frame(logged(training(20)), "1")
    outcomes = [{"request_id": "r0", "row": 3, "actual": 1.0, "ts": 1}, {"request_id": "r0", "row": 3, "actual": 2.0, "ts": 2}, {"request_id": "nope", "row": 0, "actual": 5, "ts": 1}]
    joined = join_outcomes(live, outcomes)
    assert len(joined) == 1 and joined.iloc[0]["actual"] == 2.0 and joined.iloc[0]["temp_min"] == live.iloc[3]["temp_min"]


def test_verdicts():
    ref = training()
    calm = from_training(SPEC, ref, 120, seed=3)
    result = check(SPEC, "1", ref, logged(calm), [], (0, 1e9))
    assert not result.retrain and result.live_rows == 120 and result.reason.startswith("no retraining")

    moved = shifted(SPEC, ref, 120, seed=3)
    result = check(SPEC, "1", ref, logged(moved), [], (0, 1e9))
    assert result.retrain and "drift in 4 feature(s)" in result.reason and "temp_min (ks" in result.reason

    # Only rows served by the judged version count.
    result = check(SPEC, "2", ref, logged(moved), [], (0, 1e9))
    assert not result.retrain and result.live_rows == 0

    # Too few rows: reported, never a trigger.
    result = check(SPEC, "1", ref, logged(moved.head(10)), [], (0, 1e9))
    assert not result.retrain and "min_rows 50" in result.reason and result.drifted


def test_live_quality_below_threshold_triggers_and_good_quality_does_not():
    ref = training()
    calm = from_training(SPEC, ref, 120, seed=4)
    records = logged(calm)
    good = [{"request_id": r["request_id"], "row": r["row"], "actual": r["prediction"] + 0.5, "ts": 1} for r in records]
    bad = [{**o, "actual": a} for o, a in zip(good, degrade(SPEC, [r["prediction"] for r in records]))]

    ok = check(SPEC, "1", ref, records, good, (0, 1e9))
    assert not ok.retrain and ok.quality["rmse"] == pytest.approx(0.5) and ok.outcome_rows == 120

    worse = check(SPEC, "1", ref, records, bad, (0, 1e9))
    assert worse.retrain and worse.quality_failures == ["rmse 15.0000 > max 5.0"] and "live quality on 120 outcomes" in worse.reason

    few = check(SPEC, "1", ref, records, bad[:5], (0, 1e9))
    assert not few.retrain and "min_outcomes 30" in few.reason


def test_degraded_classes_are_always_wrong():
    predictions = ["Adelie Penguin (Pygoscelis adeliae)"] * 5 + ["Gentoo penguin (Pygoscelis papua)"] * 5
    assert all(a != p for a, p in zip(degrade(PENGUINS, predictions), predictions))
