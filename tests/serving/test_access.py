"""Who may use the model server: predictions need CT_SERVING_TOKEN when it is set; admin
actions need CT_SERVING_ADMIN_TOKEN and are refused outright when none is configured."""

from __future__ import annotations

import pytest
import requests

from tests.support.processes import model_server

pytestmark = pytest.mark.services


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong-token", 401), ("Basic dXNlcjpwYXNz", 401), ("predict", 200), ("admin", 200)],
    ids=["no token", "wrong token", "wrong scheme", "prediction token", "admin token"],
)
def test_predictions_need_the_token(server, authorization, status):
    token = {"predict": server.predict_token, "admin": server.admin_token}.get(authorization)
    headers = {"Authorization": f"Bearer {token}" if token else authorization} if authorization else {}
    response = requests.post(server.invocations, json=server.good_payload(), headers=headers, timeout=60)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "CT_SERVING_TOKEN" in response.json()["expected"]
    else:
        assert len(response.json()["predictions"]) == 1


def test_admin_actions_need_the_admin_token(server):
    url = f"{server.url}/admin/models/{server.model}/deploy"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {server.predict_token}"}):
        response = requests.post(url, json={"version": "1"}, headers=headers, timeout=60)
        assert response.status_code == 401, (headers, response.text)
    assert requests.post(url, json={"version": "1"}, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=120).status_code == 200


def test_tokens_never_reach_the_server_log(server):
    requests.post(server.invocations, json=server.good_payload(), headers=server.auth, timeout=60)
    log = server.log.read_text(errors="replace")
    assert "POST /models/" in log  # the log does record requests
    assert server.predict_token not in log and server.admin_token not in log


def test_without_an_admin_token_admin_actions_are_refused(registered_home, tmp_path):
    home, name, version = registered_home
    # A copy of the registry's state folder would do too; deployed.json is ignored by the refusal anyway.
    with model_server({"CT_HOME": str(home), "CT_SERVING_ADMIN_TOKEN": ""}, tmp_path / "server.log") as url:
        before = requests.get(f"{url}/health", timeout=10).json()["models"]
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            response = requests.post(f"{url}/admin/models/{name}/deploy", json={"version": version}, headers=headers, timeout=60)
            assert response.status_code == 503, response.text
            assert "CT_SERVING_ADMIN_TOKEN" in response.json()["detail"]
        assert requests.get(f"{url}/health", timeout=10).json()["models"] == before  # nothing was loaded or swapped
