"""Deploy target ``docker`` against a real engine: build, serve, switch under load, refuse a bad version.

The tests run in order on one module-scoped stack (tests/docker/conftest.py): each one starts
from what the previous one left serving, as successive deploys do in production.
"""

from __future__ import annotations

import threading

import pytest
import requests

from bench.load import run_load
from include.docker_deploy.images import LABEL, prune_model_images
from include.errors import DeployError
from tests.docker.conftest import MODEL, SMOKE

pytestmark = pytest.mark.docker
FIGURES: dict = {}


def predict(stack) -> requests.Response:
    return requests.post(stack.target.endpoint(MODEL), json=SMOKE, timeout=30)


def model_containers(stack) -> list:
    return stack.target.containers(MODEL, all_=True)


def test_first_deploy_builds_a_labelled_image_and_serves_it_through_the_router(stack):
    result = stack.target.deploy(MODEL, "1", SMOKE)
    FIGURES["first_deploy_s"] = result.seconds  # includes the runtime image build
    assert (result.action, result.version, result.previous_version) == ("deployed", "1", None)

    image = stack.client.images.get(f"{MODEL}:1")
    ref = stack.registry.version(MODEL, "1")
    assert image.labels[f"{LABEL}.model"] == MODEL and image.labels[f"{LABEL}.version"] == "1"
    assert image.labels[f"{LABEL}.run-id"] == ref.run_id
    assert image.labels[f"{LABEL}.data-md5"] == ref.tags["data_md5"] == "synthetic"
    assert image.labels[f"{LABEL}.git-commit"] == ref.tags["git_commit"]

    answer = predict(stack)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Version"] == "1"
    assert len(answer.json()["predictions"]) == 2
    assert [c.labels[f"{LABEL}.version"] for c in model_containers(stack)] == ["1"]


def test_deploying_the_served_version_again_reuses_everything(stack):
    container = stack.target.serving_container(MODEL)
    result = stack.target.deploy(MODEL, "1", SMOKE)
    assert result.action == "already serving"
    assert [c.id for c in model_containers(stack)] == [container.id]


def test_a_new_version_takes_over_under_steady_load_without_a_failed_request(stack):
    old = stack.target.serving_container(MODEL)
    box: dict = {}
    stop = threading.Event()
    # 10 requests/s from before the deploy starts until it has returned (bounded at 10 min).
    load = threading.Thread(target=lambda: box.update(run_load(stack.target.endpoint(MODEL), SMOKE, rate=10, duration=600, concurrency=4, stop=stop)))
    load.start()
    try:
        result = stack.target.deploy(MODEL, "2", SMOKE)
        deploy_done = load.is_alive()  # still under load when the switch finished
    finally:
        stop.set()
        load.join(timeout=120)
    FIGURES.update(second_deploy_s=result.seconds, load=box)
    print(f"\nDOCKER DEPLOY FIGURES: {FIGURES}")
    assert (result.action, result.previous_version) == ("deployed", "1")
    assert deploy_done, f"the deploy outlasted the load ({result.seconds:.1f} s): the switch was not measured under load"
    assert box["requests"] > 0 and box["errors"] == 0, box
    assert predict(stack).headers["X-Model-Version"] == "2"
    # the old container is stopped and removed; only version 2 runs
    assert old.id not in [c.id for c in model_containers(stack)]
    assert [c.labels[f"{LABEL}.version"] for c in model_containers(stack)] == ["2"]


def test_a_version_that_fails_its_health_check_is_removed_and_the_previous_keeps_serving(stack):
    with pytest.raises(DeployError) as failure:
        stack.target.deploy(MODEL, "3", SMOKE)
    message = str(failure.value)
    assert "version 3" in message and "version 2 keeps serving" in message
    # the container's own last log lines explain why: the model could not be loaded
    assert "--- last log lines of ct-seattle_temp_max-v3-" in message
    logs = message.split("--- last log lines")[1]
    assert "build_app_from_env" in logs and "File is not a zip file" in logs  # the garbage model file
    assert [c.labels[f"{LABEL}.version"] for c in model_containers(stack)] == ["2"]
    answer = predict(stack)
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "2"


def test_the_deploy_task_serves_the_champion_through_the_docker_target(stack, monkeypatch, tmp_path):
    """The Airflow operator, configured only by the spec and the environment, reaches the same engine."""
    import yaml
    from ct_airflow.operators.deploy import DeployModelOperator

    from include.registry import CHAMPION
    from include.settings import MODELS_DIR
    from tests.operators.conftest import task_context

    raw = yaml.safe_load((MODELS_DIR / f"{MODEL}.yaml").read_text())
    raw["deploy"] = {"target": "docker", "keep_images": 2, "health_timeout_s": 300}
    spec = tmp_path / f"{MODEL}.yaml"
    spec.write_text(yaml.safe_dump(raw))
    settings = stack.target.settings
    for name, value in {
        "CT_HOME": str(stack.home), "DOCKER_HOST": stack.engine.url, "CT_DOCKER_BASE_IMAGE": settings.images.base_image,
        "CT_DOCKER_WHEELHOUSE": str(settings.images.wheelhouse), "CT_DOCKER_ROUTER_PORT": str(settings.router_port), "CT_SERVING_ADMIN_TOKEN": settings.admin_token,
    }.items():
        monkeypatch.setenv(name, value)
    stack.registry.set_alias(MODEL, CHAMPION, "2")

    result = DeployModelOperator(task_id="deploy", spec_path=str(spec)).execute(task_context(MODEL))
    assert (result["action"], result["version"], result["endpoint"]) == ("already serving", "2", stack.target.endpoint(MODEL))


def test_old_images_are_pruned_but_current_and_previous_stay(stack):
    tags = lambda: sorted(t for im in stack.client.images.list(name=MODEL) for t in im.tags)
    assert tags() == [f"{MODEL}:1", f"{MODEL}:2", f"{MODEL}:3"]
    # keep one: version 3 is the newest, 2 (current) and 1 (previous) are protected
    assert prune_model_images(stack.client, MODEL, keep=1, protect={"2", "1"}) == []
    assert prune_model_images(stack.client, MODEL, keep=2, protect={"2"}) == [f"{MODEL}:1"]
    assert tags() == [f"{MODEL}:2", f"{MODEL}:3"]
