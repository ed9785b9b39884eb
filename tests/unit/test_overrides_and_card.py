"""Trigger-time overrides of the model spec, and the model card's content."""

from __future__ import annotations

import pytest

from include.errors import SpecError
from include.model_card import render_html, render_markdown
from include.spec import load_spec


def test_overrides_apply_only_what_the_yaml_allows(spec_path):
    spec = load_spec(spec_path("penguin_species"))
    assert spec.overrides == ["n_estimators", "min_samples_leaf"]

    changed = spec.with_overrides({"n_estimators": 20})
    assert changed.estimator.params["n_estimators"] == 20 and spec.estimator.params["n_estimators"] == 200
    assert changed.training_config() != spec.training_config()  # so the fingerprint changes and it trains
    assert spec.with_overrides({}) is spec

    with pytest.raises(SpecError, match=r"overrides \['criterion'\] are not allowed by the model YAML; allowed: \['n_estimators', 'min_samples_leaf'\]"):
        spec.with_overrides({"criterion": "entropy"})
    with pytest.raises(SpecError, match="override 'n_estimators' expects int like the YAML's 200, found '20'"):
        spec.with_overrides({"n_estimators": "20"})


def test_a_float_param_accepts_an_int_override(spec_path):
    spec = load_spec(spec_path("seattle_temp_max"))
    assert spec.with_overrides({"learning_rate": 1}).estimator.params["learning_rate"] == 1


def test_the_yaml_cannot_allow_overriding_a_param_it_does_not_set(tmp_path, spec_path):
    text = spec_path("penguin_species").read_text().replace("overrides: [n_estimators, min_samples_leaf]", "overrides: [n_estimators, max_depth]")
    path = tmp_path / "penguin_species.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"penguin_species.yaml: .*overrides: \['max_depth'\] must be keys of estimator.params"):
        load_spec(path)


REPORT = {
    "challenger_version": "3", "challenger_run_id": "abc123", "champion_version": "2", "holdout_rows": 80,
    "holdout_from": "2026-01-01", "holdout_to": "2026-03-01", "challenger": {"accuracy": 0.97, "f1_macro": 0.95},
    "champion": {"accuracy": 0.93, "f1_macro": 0.9}, "thresholds": {"accuracy": {"min": 0.9, "max": None}}, "primary_metric": "f1_macro",
    "promotion_margin": 0.0, "promote": True, "reason": "beats the champion: f1_macro 0.9500 vs champion 0.9000",
}


def test_the_model_card_has_every_section_and_says_who_approved(spec_path):
    spec = load_spec(spec_path("penguin_species"))
    tags = {"data_md5": "d" * 32, "data_until": "2026-03-02", "fingerprint": "f" * 64, "git_commit": "cafe", "trigger_reason": "new season",
            "promoted_at": "2026-03-02T01:00:00+00:00", "promoted_by": "airflow:penguin_species", "promotion_reason": "beats the champion"}
    text = render_markdown(spec, "3", tags, REPORT, ["confusion_matrix.png"])
    for section in ("## Intended use", "## Data snapshot", "## Metrics (same holdout)", "## Validation", "## Lineage", "## Approval", "## Plots"):
        assert section in text
    assert "| accuracy | 0.9700 | 0.9300 | ≥ 0.9 |" in text and "| f1_macro | 0.9500 | 0.9000 | - |" in text
    assert "**Promoted to champion** at 2026-03-02T01:00:00+00:00 by `airflow:penguin_species`" in text and "new season" in text
    html = render_html(text, "penguin_species v3")
    assert "<table>" in html and '<img src="confusion_matrix.png"' in html

    pending = render_markdown(spec, "3", {}, {**REPORT, "promote": False, "reason": "does not beat the champion"}, [])
    assert "**Rejected**: does not beat the champion" in pending


def test_residuals_plot_leaves_out_non_finite_predictions(tmp_path):
    """A challenger answering NaN is rejected; its report must still be drawn, not crash the evaluation."""
    import numpy as np

    from include.evaluation_plots import residuals_plot

    path = residuals_plot([1.0, 2.0, 3.0, 4.0], np.array([1.1, np.nan, 2.9, np.inf]), tmp_path)
    assert path.is_file() and path.stat().st_size > 0
