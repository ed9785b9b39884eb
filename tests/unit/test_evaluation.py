"""Scoring and the promotion decision: thresholds first, then challenger vs champion by the margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from include.evaluation import Decision, compute_metrics, decide, refit_of_champion, threshold_failures
from include.spec import Bound, ModelSpec, load_spec


@pytest.fixture
def seattle(spec_path) -> ModelSpec:
    # rmse (lower is better) is primary; thresholds rmse <= 4.5, mae <= 3.5
    return load_spec(spec_path("seattle_temp_max"))


@pytest.fixture
def penguins(spec_path) -> ModelSpec:
    # f1_macro (higher is better) is primary; thresholds accuracy >= 0.9, f1_macro >= 0.85
    return load_spec(spec_path("penguin_species"))


def _with(spec: ModelSpec, **evaluation) -> ModelSpec:
    return spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update=evaluation)})


def _reg(rmse, mae=1.0, r2=0.8) -> dict:
    return {"rmse": rmse, "mae": mae, "r2": r2}


def _cls(f1, accuracy=0.95) -> dict:
    return {"accuracy": accuracy, "f1_macro": f1}


# --- compute_metrics ------------------------------------------------------------------------------


def test_regression_metrics_are_computed():
    scores = compute_metrics(["rmse", "mae", "r2"], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert scores["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["r2"] == pytest.approx(1 - 4 / 5)
    assert all(isinstance(v, float) for v in scores.values())


def test_classification_metrics_are_computed():
    y_true = ["a", "a", "b", "b"]
    y_pred = ["a", "a", "b", "a"]
    scores = compute_metrics(["accuracy", "f1_macro", "balanced_accuracy"], y_true, y_pred)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert scores["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_only_the_requested_metrics_are_returned():
    assert set(compute_metrics(["mae"], [1.0], [2.0])) == {"mae"}


def test_nan_predictions_give_nan_for_every_metric():
    scores = compute_metrics(["rmse", "mae", "r2"], [1.0, 2.0, 3.0], np.array([1.0, np.nan, 3.0]))
    assert set(scores) == {"rmse", "mae", "r2"}
    assert all(math.isnan(v) for v in scores.values())


# --- threshold_failures ---------------------------------------------------------------------------


def test_no_failures_when_every_threshold_passes(seattle):
    assert threshold_failures(seattle, _reg(4.5, mae=3.5)) == []  # bounds are inclusive


def test_each_failing_threshold_is_named(seattle):
    failures = threshold_failures(seattle, _reg(5.0, mae=4.0))
    assert failures == ["rmse 5.0000 > max 4.5", "mae 4.0000 > max 3.5"]


def test_a_min_threshold_failure_is_named(penguins):
    assert threshold_failures(penguins, _cls(0.9, accuracy=0.8)) == ["accuracy 0.8000 < min 0.9"]


def test_a_missing_or_nan_thresholded_metric_fails(seattle):
    assert threshold_failures(seattle, {"rmse": 1.0}) == ["mae is NaN"]
    assert threshold_failures(seattle, _reg(float("nan"))) == ["rmse is NaN"]


def test_a_bound_with_both_ends_checks_both(seattle):
    spec = _with(seattle, thresholds={"r2": Bound(min=0.5, max=0.99)})
    assert threshold_failures(spec, _reg(1.0, r2=0.7)) == []
    assert threshold_failures(spec, _reg(1.0, r2=0.4)) == ["r2 0.4000 < min 0.5"]
    assert threshold_failures(spec, _reg(1.0, r2=0.999)) == ["r2 0.9990 > max 0.99"]


# --- decide ---------------------------------------------------------------------------------------


def test_the_first_model_is_promoted_on_thresholds_alone(seattle):
    decision = decide(seattle, _reg(4.0), None)
    assert decision == Decision(True, decision.reason)
    assert decision.reason.startswith("first model")
    assert "rmse 4.0000" in decision.reason


def test_the_first_model_is_rejected_when_a_threshold_fails(seattle):
    decision = decide(seattle, _reg(4.6), None)
    assert not decision.promote
    assert "thresholds" in decision.reason and "rmse 4.6000 > max 4.5" in decision.reason


def test_a_threshold_failure_rejects_even_a_much_better_challenger(penguins):
    # f1 improves a lot on the champion, but accuracy is under its floor.
    decision = decide(penguins, _cls(0.99, accuracy=0.85), _cls(0.5, accuracy=0.6))
    assert not decision.promote
    assert "accuracy" in decision.reason and "f1_macro" not in decision.reason


def test_lower_is_better_promotes_a_lower_rmse(seattle):
    assert decide(seattle, _reg(3.0), _reg(3.5)).promote


def test_lower_is_better_rejects_a_higher_rmse(seattle):
    decision = decide(seattle, _reg(3.5), _reg(3.0))
    assert not decision.promote
    assert decision.reason.startswith("does not beat the champion")
    assert "rmse 3.5000 vs champion 3.0000" in decision.reason
    assert "gain -0.5000" in decision.reason


def test_higher_is_better_promotes_a_higher_f1(penguins):
    decision = decide(penguins, _cls(0.95), _cls(0.90))
    assert decision.promote
    assert "gain +0.0500" in decision.reason


def test_higher_is_better_rejects_a_lower_f1(penguins):
    assert not decide(penguins, _cls(0.90), _cls(0.95)).promote


@pytest.mark.parametrize("spec_name, scores", [("seattle", _reg(3.0)), ("penguins", _cls(0.9))])
def test_a_tie_is_not_promoted_even_with_a_zero_margin(request, spec_name, scores):
    # The churn: two forced retrains on unchanged data, "gain +0.0000", promoted one after the other.
    spec = request.getfixturevalue(spec_name)
    assert spec.evaluation.promotion_margin == 0.0
    decision = decide(spec, scores, dict(scores))
    assert not decision.promote
    assert decision.reason.startswith("does not beat the champion") and "gain +0.0000, must be more than the margin 0.0" in decision.reason


def test_float_noise_between_two_fits_is_a_tie_and_a_small_real_gain_is_written_out(seattle):
    assert not decide(seattle, _reg(3.0 - 1e-13), _reg(3.0)).promote  # a last-bit difference is not a better model
    decision = decide(seattle, _reg(3.0 - 3e-5), _reg(3.0))
    assert decision.promote and "gain +3.00e-05" in decision.reason, decision.reason


@pytest.mark.parametrize("challenger, promote", [(2.7, True), (2.8, False), (2.9, False), (3.0, False), (3.1, False)])
def test_lower_is_better_must_beat_the_champion_by_more_than_the_margin(seattle, challenger, promote):
    spec = _with(seattle, promotion_margin=0.2)
    decision = decide(spec, _reg(challenger), _reg(3.0))
    assert decision.promote is promote
    assert "margin 0.2" in decision.reason


@pytest.mark.parametrize("challenger, promote", [(0.96, True), (0.95, False), (0.92, False), (0.90, False), (0.88, False)])
def test_higher_is_better_must_beat_the_champion_by_more_than_the_margin(penguins, challenger, promote):
    spec = _with(penguins, promotion_margin=0.05)
    assert decide(spec, _cls(challenger), _cls(0.90)).promote is promote


def test_a_nan_challenger_is_rejected_by_its_threshold(penguins):
    decision = decide(penguins, _cls(float("nan")), _cls(0.9))
    assert not decision.promote
    assert "f1_macro is NaN" in decision.reason


def test_a_nan_challenger_is_rejected_without_a_threshold_on_the_primary_metric(seattle):
    spec = _with(seattle, thresholds={})
    for champion in (None, _reg(3.0)):
        decision = decide(spec, _reg(float("nan")), champion)
        assert not decision.promote
        assert decision.reason == "rmse is NaN"


def test_a_nan_champion_loses_to_any_valid_challenger(seattle):
    decision = decide(seattle, _reg(4.4), _reg(float("nan")))
    assert decision.promote
    assert decision.reason.startswith("beats the champion")


def test_only_the_primary_metric_decides_between_challenger_and_champion(seattle):
    # Worse on mae and r2, better on rmse (the primary metric): promoted.
    assert decide(seattle, _reg(3.0, mae=3.0, r2=0.1), _reg(3.1, mae=1.0, r2=0.9)).promote


def test_a_refit_of_the_champion_is_named_and_anything_else_is_not():
    champion = {"fingerprint": "f" * 64, "data_md5": "abc"}
    why = refit_of_champion(dict(champion), champion, "4")
    assert why.startswith("a refit of champion version 4: the same data (md5 abc)") and "fingerprint ffffffffffff" in why, why
    assert refit_of_champion({"fingerprint": "e" * 64, "data_md5": "abc"}, champion, "4") == ""  # code, libraries or config changed
    assert refit_of_champion({}, {}, "4") == ""  # versions from before fingerprints: nothing to compare


def test_decision_to_dict():
    assert Decision(False, "why").to_dict() == {"promote": False, "reason": "why"}


# --- slices and broken predictions ---------------------------------------------------------------


def _holdout(islands: list[str]):
    import pandas as pd

    return pd.DataFrame({"island": islands})


def test_a_model_better_on_average_fails_on_the_slice_it_gets_wrong(penguins):
    # 60 Biscoe rows all right, 25 Dream rows all wrong: 71% accuracy on average, 0% on Dream.
    x = _holdout(["Biscoe"] * 60 + ["Dream"] * 25)
    y_true = np.array(["a"] * 60 + ["b"] * 25, dtype=object)
    y_pred = np.array(["a"] * 85, dtype=object)
    from include.evaluation import slice_failures

    failures, report = slice_failures(penguins, x, y_true, y_pred)

    assert failures == ["slice island=Dream (25 rows): accuracy 0.0000 < min 0.85"]
    assert [(r["value"], r["rows"], r["judged"]) for r in report] == [("Biscoe", 60, True), ("Dream", 25, True)]


def test_slices_smaller_than_min_rows_are_reported_but_not_judged(penguins):
    from include.evaluation import slice_failures

    x = _holdout(["Biscoe"] * 30 + ["Torgersen"] * 5)
    failures, report = slice_failures(penguins, x, np.array(["a"] * 35, dtype=object), np.array(["a"] * 30 + ["b"] * 5, dtype=object))

    assert failures == []
    assert report[1] == {"column": "island", "value": "Torgersen", "rows": 5, "judged": False}


def test_missing_values_form_their_own_slice(penguins):
    from include.evaluation import slice_failures

    x = _holdout(["Biscoe"] * 20 + [None] * 20)
    _, report = slice_failures(penguins, x, np.array(["a"] * 40, dtype=object), np.array(["a"] * 40, dtype=object))
    assert {r["value"] for r in report} == {"Biscoe", "<missing>"}


def test_no_slices_configured_means_no_slice_verdict(seattle):
    from include.evaluation import slice_failures

    assert slice_failures(seattle, _holdout(["x"]), [1.0], [1.0]) == ([], [])


@pytest.mark.parametrize(("predictions", "missing"), [([1.0, float("nan"), 2.0], 1), (["a", None, "b"], 1), (["a", "b"], 0)])
def test_missing_predictions_are_counted_for_numbers_and_labels(predictions, missing):
    from include.evaluation import missing_predictions

    assert missing_predictions(np.asarray(predictions, dtype=object if isinstance(predictions[0], str) else float)) == missing
