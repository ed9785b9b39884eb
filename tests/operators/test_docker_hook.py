"""DockerEngineHook: where the engine and the build settings come from (connection, then environment).

Talking to a real engine is the docker tier's job (tests/docker); these need no engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from ct_airflow.hooks.docker import DockerEngineHook
from ct_airflow.operators.deploy import DeployModelOperator

from include.deploy import LocalServerTarget
from include.docker_deploy.target import DockerTarget

ENV = ("AIRFLOW_CONN_DOCKER_DEFAULT", "DOCKER_HOST", "CT_DOCKER_BASE_IMAGE", "CT_DOCKER_WHEELHOUSE", "CT_DOCKER_ROUTER_PORT", "CT_DOCKER_BIND_HOST", "CT_SERVING_ADMIN_TOKEN")


def _clean(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_without_a_connection_the_environment_decides(monkeypatch, tmp_path):
    _clean(monkeypatch)
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/ct-test.sock")
    monkeypatch.setenv("CT_DOCKER_BASE_IMAGE", "local/base:1")
    monkeypatch.setenv("CT_DOCKER_WHEELHOUSE", str(tmp_path))
    monkeypatch.setenv("CT_DOCKER_ROUTER_PORT", "6123")
    monkeypatch.setenv("CT_SERVING_ADMIN_TOKEN", "tok")
    hook = DockerEngineHook()
    settings = hook.settings(keep_images=4, health_timeout_s=9)
    assert hook.base_url == "unix:///tmp/ct-test.sock"
    assert (settings.images.base_image, settings.images.wheelhouse, settings.router_port) == ("local/base:1", Path(tmp_path), 6123)
    assert (settings.admin_token, settings.keep_images, settings.health_timeout_s, settings.bind_host) == ("tok", 4, 9, "127.0.0.1")


def test_the_connection_wins_over_the_environment(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("DOCKER_HOST", "unix:///ignored.sock")
    monkeypatch.setenv("CT_DOCKER_BASE_IMAGE", "ignored:1")
    fake = "conn-token"  # pragma: allowlist secret
    conn = {"conn_type": "docker_engine", "host": "docker.internal", "port": 2376, "extra": {"base_image": "python:3.11-slim-bookworm", "router_port": 7001}}
    monkeypatch.setenv("AIRFLOW_CONN_DOCKER_DEFAULT", json.dumps({**conn, "password": fake}))
    hook = DockerEngineHook()
    settings = hook.settings()
    assert hook.base_url == "tcp://docker.internal:2376"
    assert (settings.images.base_image, settings.router_port, settings.admin_token, settings.images.wheelhouse) == ("python:3.11-slim-bookworm", 7001, "conn-token", None)


def test_the_operator_picks_the_target_the_spec_names(monkeypatch, spec_path, tmp_path):
    from include.spec import load_spec
    from tests.unit.test_spec import _load_mutated

    _clean(monkeypatch)
    operator = DeployModelOperator(task_id="deploy", spec_path=str(spec_path("seattle_temp_max")))
    local = load_spec(spec_path("seattle_temp_max"))
    assert isinstance(operator.target_for(local, registry=None), LocalServerTarget)
    docker_spec = _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(deploy={"target": "docker", "keep_images": 2}))
    # Building a DockerTarget connects to the engine (API version negotiation): give it none and
    # check what it was asked to build instead.
    monkeypatch.setattr(DockerEngineHook, "get_conn", lambda self: "engine-client")
    target = operator.target_for(docker_spec, registry="registry")
    assert isinstance(target, DockerTarget)
    assert (target.client, target.registry, target.settings.keep_images) == ("engine-client", "registry", 2)
