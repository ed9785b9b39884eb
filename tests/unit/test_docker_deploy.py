"""The docker deploy target's pure parts: spec fields, image labels, the pinned serving requirements.

What needs an engine (build, run, health, switch, prune) is in tests/docker, against a real one.
"""

from __future__ import annotations

import pytest

from include.docker_deploy import images
from include.docker_deploy.target import wait_until
from include.errors import DeployError, SpecError
from include.spec import load_spec
from tests.unit.test_spec import _load_mutated


def test_a_model_can_choose_the_docker_target(tmp_path, spec_path):
    spec = _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(deploy={"target": "docker", "keep_images": 5}))
    assert (spec.deploy.target, spec.deploy.keep_images) == ("docker", 5)


@pytest.mark.parametrize("deploy, field", [({"target": "kubernetes"}, "deploy.target"), ({"target": "docker", "keep_images": 1}, "deploy.keep_images")])
def test_a_bad_deploy_section_names_the_field(tmp_path, spec_path, deploy, field):
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(deploy=deploy))


def test_shipped_specs_still_default_to_the_local_target(spec_path):
    assert load_spec(spec_path("seattle_temp_max")).deploy.target == "local"


def test_image_labels_carry_the_lineage_and_say_unknown_for_what_is_missing():
    labels = images.image_labels("m", "7", {"run_id": "r1", "data_md5": "abc", "git_commit": ""})
    assert labels == {
        "io.ct-platform.role": "model", "io.ct-platform.model": "m", "io.ct-platform.version": "7",
        "io.ct-platform.run-id": "r1", "io.ct-platform.data-md5": "abc", "io.ct-platform.git-commit": "unknown",
    }


def test_serving_requirements_are_pinned_by_the_lock_and_exclude_airflow():
    pinned = images.serving_requirements().splitlines()
    assert all("==" in line for line in pinned)
    assert any(line.startswith("mlflow-skinny==") for line in pinned)
    assert not any(line.lower().startswith(("apache-airflow", "dvc", "great-expectations", "mlflow==")) for line in pinned)


def test_a_serving_requirement_missing_from_the_lock_is_named(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text("fastapi==0.1\n")
    with pytest.raises(DeployError, match=r"mlflow-skinny.*no pin in .*constraints\.txt"):
        images.serving_requirements(lock)


def test_wait_until_returns_the_first_truthy_answer_and_times_out_naming_what():
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), 5, "x", interval_s=0) == "ready"
    with pytest.raises(DeployError, match="waiting for the router"):
        wait_until(lambda: False, 0, "the router", interval_s=0)
