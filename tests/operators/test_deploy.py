"""The local deploy target against the real model server: deploy, idempotence, rollback, restart."""

from __future__ import annotations

import logging
import shutil
import time

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
        assert three_versions.version(MODEL, "1").tags["deploy_status"] == "deployed"

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


class ImpatientDeploy(DeployModelOperator):
    """A deploy whose answer does not come in time (1 ms): the server loads and swaps all the same."""

    def target_for(self, spec, registry):
        target = super().target_for(spec, registry)
        target.timeout_s = (10, 0.001)  # (connect, read): the request reaches the server, its answer is lost
        return target


def served_version(url: str, model: str, wanted: str, timeout_s: float = 60) -> str | None:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(f"{url}/models/{model}", timeout=10)
        found = answer.json()["version"] if answer.status_code == 200 else None
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_retry_that_finds_the_version_serving_tags_it_deployed(settings, three_versions, tmp_path, monkeypatch):
    """The issue's first deploy: the try failed after the server swapped, and the retry found the
    version already serving; the version kept ``deploy_status=failed`` although it was served."""
    registry = three_versions
    three_versions.set_alias(MODEL, CHAMPION, "1")
    # One worker: with several, the one whose deploy answer was lost serves before the others have
    # loaded the version, and a check on another worker would see 404 (a retry comes minutes later).
    server = model_server({"CT_HOME": str(settings.home), "CT_SERVING_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path / "server.log", ("--workers", "1"))
    with server as url:
        monkeypatch.setenv("CT_SERVING_URL", url)
        monkeypatch.setenv("CT_SERVING_ADMIN_TOKEN", ADMIN_TOKEN)
        with pytest.raises(DeployError, match="nothing to roll back to"):
            ImpatientDeploy(task_id="deploy", spec_path=PENGUINS).execute(task_context())
        failed = registry.version(MODEL, "1").tags
        assert (failed.get("deploy_status"), "timed out" in failed.get("deploy_error", "").lower()) == ("failed", True), failed.get("deploy_error")
        assert served_version(url, MODEL, "1") == "1"  # the server swapped all the same

        out = DeployModelOperator(task_id="deploy", spec_path=PENGUINS).execute(task_context())  # the retry
        assert out["action"] == "already serving"
        tags = registry.version(MODEL, "1").tags
        assert tags["deploy_status"] == "deployed" and tags["deployed_to"] == out["endpoint"], tags
        assert "deploy_error" not in tags and "deploy_failed_at" not in tags, tags
        assert tags["deploy_earlier_failure"].startswith(failed["deploy_failed_at"] + ": "), tags
        deployed_at = tags["deployed_at"]

        # A later run finds it serving: nothing to record, the time it was deployed stays.
        assert DeployModelOperator(task_id="deploy", spec_path=PENGUINS).execute(task_context())["action"] == "already serving"
        assert registry.version(MODEL, "1").tags["deployed_at"] == deployed_at

        # A newer champion replaces it: each version says what happened to it last.
        three_versions.set_alias(MODEL, CHAMPION, "2")
        assert DeployModelOperator(task_id="deploy", spec_path=PENGUINS).execute(task_context())["action"] == "deployed"
        assert registry.version(MODEL, "2").tags["deploy_status"] == "deployed"
        replaced = registry.version(MODEL, "1").tags
        assert (replaced["deploy_status"], replaced["replaced_by"]) == ("replaced", "2"), replaced
