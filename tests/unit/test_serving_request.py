"""The model server's request checks and settings, without a server (milliseconds)."""

from __future__ import annotations

import json

import pytest
from mlflow.types import ColSpec, Schema

from include.serving.config import ServingConfig
from include.serving.scoring_request import BadScoringRequest, SignatureRows

SCHEMA = Schema([ColSpec("double", "temp_min"), ColSpec("long", "count"), ColSpec("string", "weather"), ColSpec("boolean", "holiday")])
ROW = {"temp_min": 1.5, "count": 3, "weather": "fog", "holiday": False}


def rows(max_rows: int = 3) -> SignatureRows:
    return SignatureRows(SCHEMA, max_rows)


def refused(body: bytes | str, max_rows: int = 3) -> BadScoringRequest:
    with pytest.raises(BadScoringRequest) as caught:
        rows(max_rows).parse_json(body.encode() if isinstance(body, str) else body)
    return caught.value


def test_a_valid_request_keeps_every_row_and_column():
    body = json.dumps({"dataframe_records": [ROW, {**ROW, "temp_min": 2, "weather": None}]})
    assert rows().parse_json(body.encode()) == [ROW, {**ROW, "temp_min": 2.0, "weather": None}]


@pytest.mark.parametrize(
    ("value", "column"),
    [({"temp_min": "1.5"}, "temp_min"), ({"count": 1.5}, "count"), ({"count": True}, "count"), ({"weather": 5}, "weather"), ({"holiday": "no"}, "holiday")],
    ids=["text for double", "float for long", "bool for long", "number for string", "text for boolean"],
)
def test_wrong_types_are_refused_with_row_and_column(value, column):
    bad = refused(json.dumps({"dataframe_records": [ROW, {**ROW, **value}]}))
    assert bad.status == 422 and bad.errors[0]["row"] == 1 and bad.errors[0]["column"] == column
    assert bad.errors[0]["expected"] == {"temp_min": "double", "count": "long", "weather": "string", "holiday": "boolean"}[column]


def test_columns_are_checked_before_values():
    bad = refused(json.dumps({"dataframe_split": {"columns": ["temp_min", "x"], "data": [[1.0, 2]]}}))
    assert bad.status == 422 and "unknown columns ['x']" in bad.message and "missing columns ['count', 'weather', 'holiday']" in bad.message


def test_row_limit_is_checked_before_validating_rows():
    bad = refused(json.dumps({"dataframe_records": [{"anything": 1}] * 4}))
    assert (bad.status, bad.found) == (413, "4 rows")


def test_only_plain_named_columns_are_validated_here():
    import numpy as np
    from mlflow.types import TensorSpec

    assert SignatureRows.supports(SCHEMA)
    assert not SignatureRows.supports(None)
    assert not SignatureRows.supports(Schema([TensorSpec(np.dtype("float64"), (-1, 3))]))
    assert not SignatureRows.supports(Schema([ColSpec("binary", "blob")]))


def test_settings_come_from_the_environment_and_bad_values_name_the_variable():
    config = ServingConfig.from_env({"CT_SERVING_MAX_ROWS": "7", "CT_SERVING_TOKEN": "t", "CT_SERVING_ADMIN_TOKEN": ""})
    assert (config.max_rows, config.predict_token, config.admin_token, config.max_body_bytes) == (7, "t", None, 1_000_000)
    for raw in ("0", "-1", "many"):
        with pytest.raises(ValueError, match=f"CT_SERVING_MAX_BODY_BYTES must be a positive int, found '{raw}'"):
            ServingConfig.from_env({"CT_SERVING_MAX_BODY_BYTES": raw})


def test_workers_default_to_one_per_cpu_and_must_be_positive():
    import os

    assert ServingConfig.from_env({}).workers == (os.cpu_count() or 1)
    assert ServingConfig.from_env({"CT_SERVING_WORKERS": "3"}).workers == 3
    with pytest.raises(ValueError, match="CT_SERVING_WORKERS must be a positive int, found '0'"):
        ServingConfig.from_env({"CT_SERVING_WORKERS": "0"})
