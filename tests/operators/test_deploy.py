"""The local deploy target against the real model server: deploy, idempotence, rollback, restart."""

from __future__ import annotations

import logging
import shutil

import pytest
import requests
from ct_airflow.hooks.mlflow import MlflowRegistryHook
from ct_airflow.operators.deploy import DeployModelOperator

from include.deploy import LocalServerTarget, smoke_request
from include.errors import DeployError
from include.fingerprint import compute_fingerprint
from include.registry import CHAMPION, serving_example
from include.spec import load_spec
from include.training import train_and_register
from tests.operators.conftest import PENGUINS, task_context
from tests.support.processes import model_server

pytestmark = pytest.mark.services
MODEL = "penguin_species"
# Admin actions are never open: every server here has a token, and the deploy side sends it.
ADMIN_TOKEN = "test-admin-token-0f3c"


@pytest.fixture
def three_versions(penguin_snapshot):
    """Versions 1 and 2 are good; version 3's artifacts are deleted after registration."""
    import pandas as pd

    result, version = penguin_snapshot
    spec = load_spec(PENGUINS)
    registry = MlflowRegistryHook().registry
    frame = pd.read_parquet(result.snapshot_path)
    fp = compute_fingerprint(version.md5, spec.training_config())
    for _ in range(3):
        train_and_register(spec, frame, version.to_dict(), fp, {"run_id": "test"}, registry)
    shutil.rmtree(registry.client.get_model_version_download_uri(MODEL, "3").removeprefix("file://"))
    return registry


def test_deploy_check_rollback_and_restart(settings, three_versions, tmp_path):
    registry = three_versions
    example = smoke_request(serving_example(registry, registry.version(MODEL, "1")))
    env = {"CT_HOME": str(settings.home), "CT_SERVING_ADMIN_TOKEN": ADMIN_TOKEN}
    with model_server(env, tmp_path / "server.log") as url:
        target = LocalServerTarget(url, ADMIN_TOKEN)
        assert target.deploy(MODEL, "1", example).action == "deployed"
        assert target.deploy(MODEL, "1", example).action == "already serving"
        second = target.deploy(MODEL, "2", example)
        assert (second.action, second.previous_version) == ("deployed", "1")

        with pytest.raises(DeployError, match="rolled back to version 2"):
            target.deploy(MODEL, "3", example)
        assert target.served_version(MODEL) == "2"
        response = requests.post(target.endpoint(MODEL), json=example, timeout=30)
        assert response.status_code == 200 and response.headers["X-Model-Version"] == "2"

    with model_server(env, tmp_path / "server2.log") as url:
        assert LocalServerTarget(url, ADMIN_TOKEN).served_version(MODEL) == "2"  # restored after a restart


def test_deploy_operator_serves_the_champion(settings, three_versions, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    three_versions.set_alias(MODEL, CHAMPION, "1")
    with model_server({"CT_HOME": str(settings.home), "CT_SERVING_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path / "server.log") as url:
        monkeypatch.setenv("CT_SERVING_URL", url)
        monkeypatch.setenv("CT_SERVING_ADMIN_TOKEN", ADMIN_TOKEN)
        out = DeployModelOperator(task_id="deploy", spec_path=PENGUINS).execute(task_context())
        assert (out["version"], out["action"]) == ("1", "deployed")
        assert requests.get(f"{url}/models/{MODEL}", timeout=10).json()["version"] == "1"
        assert three_versions.version(MODEL, "1").tags["deploy_status"] == "serving"

        # A champion that cannot be served: the task fails, version 1 keeps serving, the failure is on record.
        three_versions.set_alias(MODEL, CHAMPION, "3")
        with pytest.raises(DeployError, match="version 3"):
            DeployModelOperator(task_id="deploy", spec_path=PENGUINS).execute(task_context())
        assert requests.get(f"{url}/models/{MODEL}", timeout=10).json()["version"] == "1"
        assert three_versions.version(MODEL, "3").tags["deploy_status"] == "failed"
    # The token went over HTTP only: not into the task's log, nor into the server's.
    assert ADMIN_TOKEN not in caplog.text and ADMIN_TOKEN not in (tmp_path / "server.log").read_text()


def test_admin_actions_require_the_token_when_one_is_set(settings, three_versions, tmp_path):
    with model_server({"CT_HOME": str(settings.home), "CT_SERVING_ADMIN_TOKEN": "s3cret"}, tmp_path / "server.log") as url:
        anonymous = requests.post(f"{url}/admin/models/{MODEL}/deploy", json={"version": "1"}, timeout=30)
        assert anonymous.status_code == 401
        assert LocalServerTarget(url, "s3cret").deploy(MODEL, "1", smoke_request(serving_example(three_versions, three_versions.version(MODEL, "1")))).action == "deployed"
