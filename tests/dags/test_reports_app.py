"""The reports app mounted in the Airflow API server: login required, the newest drift report served."""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("CT_HOME", str(tmp_path))
    folder = tmp_path / "reports" / "seattle_temp_max" / "monitoring"
    folder.mkdir(parents=True)
    (folder / "older.html").write_text("<p>older</p>")
    os.utime(folder / "older.html", (time.time() - 60, time.time() - 60))
    (folder / "newer.html").write_text("<p>newer</p>")
    return tmp_path


def _app():
    from ct_airflow.reports_app import create_app

    return create_app()


def test_reports_need_the_airflow_login(reports):
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()  # as the API server does at start: it decodes the session's JWT
    client = TestClient(_app())
    assert client.get("/drift/seattle_temp_max").status_code == 401
    assert client.get("/drift/seattle_temp_max", cookies={"_token": "not-a-jwt"}).status_code in (401, 403)


def test_the_newest_drift_report_is_served_to_a_signed_in_user(reports):
    from airflow.api_fastapi.core_api.security import get_user

    app = _app()
    app.dependency_overrides[get_user] = lambda: object()  # stands in for a valid session (the login itself is Airflow's)
    client = TestClient(app)
    assert client.get("/drift/seattle_temp_max").text == "<p>newer</p>"
    missing = client.get("/drift/penguin_species")
    assert missing.status_code == 404 and "penguin_species__monitoring" in missing.json()["detail"]
    assert client.get("/files/../../etc/passwd").status_code == 404
