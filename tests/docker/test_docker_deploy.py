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
    # 20 requests/s for 30 s: long enough to cover the build, start, checks and switch of version 2.
    load = threading.Thread(target=lambda: box.update(run_load(stack.target.endpoint(MODEL), SMOKE, rate=20, duration=30, concurrency=8)))
    load.start()
    try:
        result = stack.target.deploy(MODEL, "2", SMOKE)
        deploy_done = box.get("requests") is None  # still under load when the switch finished
    finally:
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
    assert "Traceback" in message or "Error" in message.split("--- last log lines")[1]
    assert [c.labels[f"{LABEL}.version"] for c in model_containers(stack)] == ["2"]
    answer = predict(stack)
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "2"


def test_old_images_are_pruned_but_current_and_previous_stay(stack):
    tags = lambda: sorted(t for im in stack.client.images.list(name=MODEL) for t in im.tags)  # noqa: E731
    assert tags() == [f"{MODEL}:1", f"{MODEL}:2", f"{MODEL}:3"]
    # keep one: version 3 is the newest, 2 (current) and 1 (previous) are protected
    assert prune_model_images(stack.client, MODEL, keep=1, protect={"2", "1"}) == []
    assert prune_model_images(stack.client, MODEL, keep=2, protect={"2"}) == [f"{MODEL}:1"]
    assert tags() == [f"{MODEL}:2", f"{MODEL}:3"]
