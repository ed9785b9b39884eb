"""Bad prediction requests against the real model server: each a 4xx with a JSON message that
says what was expected and what was found; never a 5xx, and the server keeps answering."""

from __future__ import annotations

import json

import pytest
import requests

from tests.serving.conftest import COLUMNS, GOOD_ROW, LIMITS

pytestmark = pytest.mark.services
MAX_ROWS = int(LIMITS["CT_SERVING_MAX_ROWS"])
MAX_BYTES = int(LIMITS["CT_SERVING_MAX_BODY_BYTES"])


def split(columns, rows):
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


def chunked(total_bytes: int):
    """A body with no Content-Length (chunked): the server must stop reading at its limit."""
    sent = 0
    while sent < total_bytes:
        yield b" " * 4096
        sent += 4096


# (case, body, content type, expected status, words the message must contain)
CASES = [
    ("malformed JSON", b'{"dataframe_split": {"columns": ', "application/json", 400, "not valid JSON"),
    ("not UTF-8", b'{"dataframe_split": "\xff\xfe"}', "application/json", 400, "not valid JSON"),
    ("a JSON list, not an object", b"[1, 2, 3]", "application/json", 400, "must be a JSON object"),
    ("wrong schema: no input format", b'{"rows": [[1, 2]]}', "application/json", 400, "exactly one input format"),
    ("wrong schema: two input formats", b'{"inputs": [], "instances": []}', "application/json", 400, "exactly one input format"),
    ("wrong schema: split without data", b'{"dataframe_split": {"columns": ["temp_min"]}}', "application/json", 400, "wrong shape"),
    ("row shorter than the columns", split(COLUMNS, [[8.3, 3.8]]), "application/json", 400, "does not match the columns"),
    ("wrong type: text for a number", split(COLUMNS, [["warm", 3.8, 4.7, "fog"]]), "application/json", 422, "column 'temp_min'"),
    ("wrong type: number for a text", split(COLUMNS, [[8.3, 3.8, 4.7, 5]]), "application/json", 422, "column 'weather'"),
    ("wrong type: boolean for a number", split(COLUMNS, [[True, 3.8, 4.7, "fog"]]), "application/json", 422, "column 'temp_min'"),
    ("wrong type: object for a number", split(COLUMNS, [[{"a": 1}, 3.8, 4.7, "fog"]]), "application/json", 422, "column 'temp_min'"),
    ("missing field", split(COLUMNS[:3], [[8.3, 3.8, 4.7]]), "application/json", 422, "missing columns ['weather']"),
    ("missing field in one record", json.dumps({"dataframe_records": [dict(zip(COLUMNS, GOOD_ROW)), {"temp_min": 1.0}]}).encode(), "application/json", 422, "missing columns"),
    ("unknown column", split([*COLUMNS, "humidity"], [[*GOOD_ROW, 80]]), "application/json", 422, "unknown columns ['humidity']"),
    ("no rows", split(COLUMNS, []), "application/json", 422, "no rows"),
    ("too many rows", split(COLUMNS, [GOOD_ROW] * (MAX_ROWS + 1)), "application/json", 413, f"at most {MAX_ROWS}"),
    # Just over the limit: the client has sent it all before the server answers and closes.
    ("oversized body (Content-Length)", b"[" + b"1," * (MAX_BYTES // 2) + b"1]", "application/json", 413, "too large"),
    ("oversized body (chunked, no length)", "chunked", "application/json", 413, "too large"),
    ("unsupported content type", b"<rows/>", "application/xml", 415, "unsupported content type"),
    ("CSV with an unknown column", b"temp_min,precipitation,wind,weather,x\n8.3,3.8,4.7,fog,1\n", "text/csv", 422, "unknown columns ['x']"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_is_a_clear_4xx_and_the_server_stays_up(server, body, content_type, status, words):
    data = chunked(2 * MAX_BYTES) if body == "chunked" else body
    response = requests.post(server.invocations, data=data, headers={**server.auth, "Content-Type": content_type}, timeout=60)

    assert response.status_code == status, response.text
    answer = response.json()
    assert words in answer["message"], answer
    assert answer["expected"] and answer["found"], answer  # says what was expected and what was found
    assert response.headers["X-Model-Version"]

    good = requests.post(server.invocations, json=server.good_payload(), headers=server.auth, timeout=60)
    assert good.status_code == 200 and len(good.json()["predictions"]) == 1
    assert server.server_errors() == []


def test_good_requests_in_every_format_are_answered(server):
    record = dict(zip(COLUMNS, GOOD_ROW))
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": [GOOD_ROW, [None, 0, 1, None]]}},  # nulls are imputed by the model
        {"dataframe_records": [record, record]},
        {"instances": [record, record]},
        {"inputs": {c: [v, v] for c, v in record.items()}},
    ]
    for body in bodies:
        response = requests.post(server.invocations, json=body, headers=server.auth, timeout=60)
        assert response.status_code == 200, (body, response.text)
        assert len(response.json()["predictions"]) == 2
    csv = requests.post(server.invocations, data="temp_min,precipitation,wind,weather\n8.3,3.8,4.7,fog\n", headers={**server.auth, "Content-Type": "text/csv"}, timeout=60)
    assert csv.status_code == 200, csv.text
    at_limit = requests.post(server.invocations, json=server.good_payload(MAX_ROWS), headers=server.auth, timeout=60)
    assert at_limit.status_code == 200 and len(at_limit.json()["predictions"]) == MAX_ROWS


def test_each_wrong_value_is_listed_with_row_and_column(server):
    response = requests.post(server.invocations, data=split(COLUMNS, [GOOD_ROW, ["x", 3.8, 4.7, 7]]), headers={**server.auth, "Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 422
    errors = {(e["row"], e["column"]): e for e in response.json()["errors"]}
    assert set(errors) == {(1, "temp_min"), (1, "weather")}
    assert errors[(1, "weather")]["expected"] == "string" and errors[(1, "weather")]["found"] == "7 (int)"
