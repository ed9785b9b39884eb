"""A run whose estimator scikit-learn would refuse fails in ingest's first step: no retry, no data read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from ct_airflow.estimator_gate import refuse_untrainable_estimator
from ct_airflow.operators.ingest import IngestOperator

from tests.operators.conftest import SEATTLE, task_context

LOG = logging.getLogger(__name__)


def _variant(tmp_path, old: str, new: str) -> str:
    text = Path(SEATTLE).read_text()
    assert old in text, old
    path = tmp_path / "seattle_temp_max.yaml"
    path.write_text(text.replace(old, new))
    return str(path)


def test_a_misspelled_class_fails_ingest_before_any_data_is_read(tmp_path, settings):
    spec_path = _variant(tmp_path, "sklearn.ensemble.GradientBoostingRegressor", "sklearn.ensemble.GradientBoostingRegresor")
    ingest = IngestOperator(task_id="ingest", spec_path=spec_path)
    # No demo sources in this CT_HOME: had ingest read anything, it would raise SourceError (a retried fault).
    with pytest.raises(AirflowFailException) as failed:
        ingest.execute({**task_context("seattle_temp_max"), "params": {}})
    message = str(failed.value)
    assert f"{spec_path}: estimator.class: module 'sklearn.ensemble' has no 'GradientBoostingRegresor'; did you mean 'GradientBoostingRegressor'?" in message
    assert "nothing was read" in message
    assert not settings.lake_dir.exists() and not settings.staging_dir.exists()


def test_a_quoted_number_in_the_yaml_is_refused(tmp_path):
    spec_path = _variant(tmp_path, "n_estimators: 150", 'n_estimators: "150"')
    with pytest.raises(AirflowFailException, match=r"estimator.params.n_estimators: GradientBoostingRegressor expects an int in the range \[1, inf\), found '150'"):
        refuse_untrainable_estimator(spec_path, {"params": {}}, LOG)


def test_an_override_from_the_trigger_form_is_checked_too():
    with pytest.raises(AirflowFailException, match=r"estimator.params.max_depth: .*found 0 \(value from the run's overrides\)"):
        refuse_untrainable_estimator(SEATTLE, {"params": {"overrides": {"max_depth": 0}}}, LOG)


def test_a_good_estimator_passes_with_and_without_overrides():
    refuse_untrainable_estimator(SEATTLE, {"params": {}}, LOG)
    refuse_untrainable_estimator(SEATTLE, {"params": {"overrides": '{"n_estimators": 20}'}}, LOG)
