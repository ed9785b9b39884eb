"""The API server's refusal of a run triggered for the future, as an ASGI middleware in front of a real app
(the running platform's answer is in tests/stack/test_run_starts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ct_airflow.future_runs import RefuseFutureLogicalDates
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

NOW = datetime(2026, 12, 1, 4, 35, tzinfo=UTC)


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"got": await request.json()}, status_code=200)


@pytest.fixture
def client():
    app = Starlette(routes=[Route("/api/v2/dags/{dag_id}/dagRuns", echo, methods=["POST"]), Route("/api/v2/other", echo, methods=["POST"])])
    return TestClient(RefuseFutureLogicalDates(app, clock=lambda: NOW))


def test_a_future_logical_date_is_refused_saying_how_to_choose_a_day(client):
    response = client.post("/api/v2/dags/penguin_species/dagRuns", json={"logical_date": "2026-12-02T00:00:00Z", "conf": {}})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    for says in ("logical_date 2026-12-02T00:00:00Z is in the future", "penguin_species", '{"day": "YYYY-MM-DD"}: 2026-11-30 or earlier'):
        assert says in detail, f"expected {says!r} in the refusal, found {detail!r}"


@pytest.mark.parametrize("body", [
    {"logical_date": None, "conf": {"day": "2026-11-20"}},  # no logical date: the rule decides
    {"logical_date": "2026-12-01T04:35:00+00:00", "conf": {}},  # the form's "now"
    {"logical_date": "2026-12-01T04:39:00+00:00", "conf": {}},  # a browser clock a few minutes ahead
    {"logical_date": "2026-06-20T00:00:00Z", "conf": {}},  # a past date
    {"logical_date": "not a date"},  # Airflow's own validation answers
])
def test_everything_else_reaches_airflow_with_its_body_intact(client, body):
    response = client.post("/api/v2/dags/penguin_species/dagRuns", json=body)
    assert (response.status_code, response.json()) == (200, {"got": body})


def test_other_endpoints_are_left_alone(client):
    body = {"logical_date": "2030-01-01T00:00:00Z"}
    assert client.post("/api/v2/other", json=body).json() == {"got": body}
