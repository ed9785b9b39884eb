"""The time-ordered holdout and the feature pipeline shipped inside every model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from include.preprocessing import build_pipeline, features_and_target, load_estimator_class, split_holdout
from include.spec import ModelSpec, load_spec

ADELIE = "Adelie Penguin (Pygoscelis adeliae)"
GENTOO = "Gentoo penguin (Pygoscelis papua)"
CHINSTRAP = "Chinstrap penguin (Pygoscelis antarctica)"


def _shuffled_days(n: int, seed: int = 0) -> pd.DataFrame:
    days = pd.date_range("2026-01-01", periods=n, freq="D")
    order = np.random.default_rng(seed).permutation(n)
    return pd.DataFrame({"date": days[order], "i": order})


# --- split_holdout --------------------------------------------------------------------------------


@pytest.mark.parametrize("n, fraction", [(10, 0.2), (10, 0.25), (7, 0.2), (100, 0.33), (3, 0.5)])
def test_holdout_is_sized_by_ceil_of_fraction_times_rows(n, fraction):
    train, holdout = split_holdout(_shuffled_days(n), "date", fraction)
    assert len(holdout) == math.ceil(fraction * n)
    assert len(train) + len(holdout) == n


def test_holdout_is_the_latest_dates():
    frame = _shuffled_days(20)
    train, holdout = split_holdout(frame, "date", 0.25)
    assert train["date"].max() < holdout["date"].min()
    assert list(holdout["date"]) == list(pd.date_range("2026-01-16", periods=5, freq="D"))
    assert train["date"].is_monotonic_increasing


def test_split_holdout_keeps_every_row_once():
    frame = _shuffled_days(13)
    train, holdout = split_holdout(frame, "date", 0.3)
    assert sorted([*train["i"], *holdout["i"]]) == list(range(13))


def test_split_holdout_does_not_reorder_its_input():
    frame = _shuffled_days(10)
    before = frame.copy()
    split_holdout(frame, "date", 0.2)
    pd.testing.assert_frame_equal(frame, before)


def test_a_tiny_fraction_still_holds_out_one_row():
    _, holdout = split_holdout(_shuffled_days(10), "date", 0.01)
    assert len(holdout) == 1
    assert holdout["date"].iloc[0] == pd.Timestamp("2026-01-10")


def test_rows_of_the_same_day_keep_their_order():
    frame = pd.DataFrame({"date": pd.to_datetime(["2026-01-02", "2026-01-01", "2026-01-02", "2026-01-02"]), "i": [0, 1, 2, 3]})
    train, holdout = split_holdout(frame, "date", 0.5)
    assert list(train["i"]) == [1, 0]
    assert list(holdout["i"]) == [2, 3]


# --- build_pipeline -------------------------------------------------------------------------------


@pytest.fixture
def penguins(spec_path) -> ModelSpec:
    return load_spec(spec_path("penguin_species"))


def _penguin_frame() -> pd.DataFrame:
    # Three separable species, with nulls in numeric and categorical columns.
    rows = []
    for i in range(8):
        rows.append((ADELIE, "Torgersen", "MALE" if i % 2 else "FEMALE", 38.0 + i * 0.2, 18.5, 190.0 + i, 3700.0))
        rows.append((GENTOO, "Biscoe", "FEMALE" if i % 2 else "MALE", 47.5 + i * 0.2, 15.0, 217.0 + i, 5100.0))
        rows.append((CHINSTRAP, "Dream", "MALE" if i % 2 else "FEMALE", 49.0 + i * 0.2, 18.4, 196.0 + i, 3730.0))
    frame = pd.DataFrame(
        rows, columns=["species", "island", "sex", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    )
    frame.loc[[0, 4], "culmen_length_mm"] = np.nan
    frame.loc[[1, 5], "body_mass_g"] = np.nan
    frame.loc[[2, 7, 9], "sex"] = None
    frame.loc[[3], "island"] = None
    return frame


def test_the_penguin_pipeline_fits_and_predicts_with_nulls(penguins):
    frame = _penguin_frame()
    assert frame[penguins.features.numeric].isna().any().any()
    assert frame[penguins.features.categorical].isna().any().all()
    x, y = features_and_target(frame, penguins)
    model = build_pipeline(penguins).fit(x, y)
    predictions = model.predict(x)
    assert len(predictions) == len(frame)
    assert set(predictions) <= {ADELIE, GENTOO, CHINSTRAP}
    assert (predictions == y.to_numpy()).mean() >= 0.9


def test_the_pipeline_uses_the_spec_estimator_and_params(penguins):
    pipeline = build_pipeline(penguins)
    estimator = pipeline.named_steps["estimator"]
    assert type(estimator).__name__ == "RandomForestClassifier"
    assert estimator.get_params()["n_estimators"] == 200
    assert estimator.get_params()["min_samples_leaf"] == 2


def test_unknown_categories_and_nulls_at_predict_time_do_not_crash(penguins):
    x, y = features_and_target(_penguin_frame(), penguins)
    model = build_pipeline(penguins).fit(x, y)
    unseen = pd.DataFrame(
        {
            "culmen_length_mm": [47.6, np.nan],
            "culmen_depth_mm": [15.0, np.nan],
            "flipper_length_mm": [218.0, np.nan],
            "body_mass_g": [5000.0, np.nan],
            "island": ["Atlantis", None],
            "sex": ["UNKNOWN", None],
        }
    )
    predictions = model.predict(unseen)
    assert len(predictions) == 2
    assert set(predictions) <= {ADELIE, GENTOO, CHINSTRAP}
    assert predictions[0] == GENTOO  # the measurements still decide


def test_the_regression_pipeline_fits_and_predicts(spec_path):
    spec = load_spec(spec_path("seattle_temp_max"))
    rng = np.random.default_rng(0)
    n = 40
    temp_min = rng.uniform(0, 15, n)
    frame = pd.DataFrame(
        {
            "temp_min": temp_min,
            "precipitation": rng.uniform(0, 10, n),
            "wind": rng.uniform(0, 8, n),
            "weather": rng.choice(["sun", "rain", "fog"], n),
            "temp_max": temp_min + 8,
        }
    )
    frame.loc[[0, 1], "wind"] = np.nan
    frame.loc[[2], "weather"] = None
    x, y = features_and_target(frame, spec)
    model = build_pipeline(spec).fit(x, y)
    predictions = model.predict(x.assign(weather=["snow"] * n))
    assert predictions.dtype.kind == "f" and not np.isnan(predictions).any()
    assert np.abs(predictions - y.to_numpy()).mean() < 2.0


def test_features_and_target_select_the_spec_columns(penguins):
    frame = _penguin_frame().assign(extra=1)
    x, y = features_and_target(frame, penguins)
    assert list(x.columns) == penguins.features.all
    assert y.name == "species"


def test_an_estimator_class_that_cannot_be_imported_names_the_field():
    with pytest.raises(ImportError, match=r"estimator\.class: cannot import 'sklearn\.ensemble\.NoSuchForest'"):
        load_estimator_class("sklearn.ensemble.NoSuchForest")
    with pytest.raises(ImportError, match=r"estimator\.class: cannot import 'no_such_package\.Model'"):
        load_estimator_class("no_such_package.Model")
