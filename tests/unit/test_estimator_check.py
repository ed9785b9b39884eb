"""The estimator of a spec is checked against scikit-learn (``make check``, and at the start of a run)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from include.check import check, main
from include.estimator_check import estimator_problems
from include.settings import MODELS_DIR
from include.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def _spec_file(tmp_path: Path, base: str, mutate, name: str = "my_model") -> Path:
    raw = copy.deepcopy(yaml.safe_load((MODELS_DIR / f"{base}.yaml").read_text(encoding="utf-8")))
    mutate(raw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _problems(tmp_path, base, mutate) -> list[str]:
    path = _spec_file(tmp_path, base, mutate)
    return estimator_problems(load_spec(path), str(path))


@pytest.mark.parametrize("name", ["seattle_temp_max", "penguin_species"])
def test_the_shipped_estimators_pass(name):
    assert estimator_problems(load_spec(MODELS_DIR / f"{name}.yaml"), name) == []


def test_a_misspelled_class_is_named_with_the_likely_one(tmp_path):
    problems = _problems(tmp_path, "penguin_species", lambda r: r["estimator"].update({"class": "sklearn.ensemble.RandomForestClassifer"}))
    assert problems == [
        f"{tmp_path / 'my_model.yaml'}: estimator.class: module 'sklearn.ensemble' has no 'RandomForestClassifer'; did you mean 'RandomForestClassifier'?"
    ]


def test_a_missing_module_is_named(tmp_path):
    [problem] = _problems(tmp_path, "penguin_species", lambda r: r["estimator"].update({"class": "sklearn.ensembl.RandomForestClassifier"}))
    assert "estimator.class: cannot import module 'sklearn.ensembl'" in problem


def test_a_quoted_number_says_what_was_expected_and_found(tmp_path):
    [problem] = _problems(tmp_path, "penguin_species", lambda r: r["estimator"]["params"].update({"n_estimators": "200"}))
    assert problem == (
        f"{tmp_path / 'my_model.yaml'}: estimator.params.n_estimators: RandomForestClassifier expects an int in the range [1, inf), "
        "found '200' (a str; quotes in YAML make a string)"
    )


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    def mutate(raw):
        raw["estimator"]["params"].update({"n_estimators": 0, "min_samples_leaf": "two", "n_estimator": 3})

    problems = _problems(tmp_path, "penguin_species", mutate)
    fields = [p.split(": ")[1] for p in problems]
    assert fields == ["estimator.params.n_estimators", "estimator.params.min_samples_leaf", "estimator.params.n_estimator"]
    assert "did you mean 'n_estimators'?" in problems[2]


def test_an_estimator_for_the_other_task_is_refused(tmp_path):
    [problem] = _problems(tmp_path, "seattle_temp_max", lambda r: r["estimator"].update({"class": "sklearn.ensemble.GradientBoostingClassifier"}))
    assert problem.endswith("estimator.class: task is regression, so a regressor is expected; GradientBoostingClassifier is a classifier")


def test_something_that_is_not_an_estimator_is_refused(tmp_path):
    [problem] = _problems(tmp_path, "seattle_temp_max", lambda r: r["estimator"].update({"class": "collections.OrderedDict"}))
    assert "expected a scikit-learn estimator (with fit and get_params), found collections.OrderedDict" in problem


def test_an_overridden_value_says_where_it_came_from(tmp_path):
    spec = load_spec(MODELS_DIR / "seattle_temp_max.yaml").with_overrides({"max_depth": 0})
    [problem] = estimator_problems(spec, "seattle_temp_max.yaml", overridden=("max_depth",))
    assert problem.startswith("seattle_temp_max.yaml: estimator.params.max_depth: GradientBoostingRegressor expects an int in the range [1, inf) or None, found 0")
    assert problem.endswith("(value from the run's overrides)")


def test_the_command_lists_every_model_and_fails_when_one_is_broken(tmp_path, capsys):
    good = _spec_file(tmp_path, "seattle_temp_max", lambda r: None, name="good")
    bad = _spec_file(tmp_path, "penguin_species", lambda r: r["estimator"]["params"].update({"n_estimators": "200"}), name="bad")
    (tmp_path / "no_schema.yaml").write_text("description: only this\n")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert f"{bad}: 1 problem(s)\n  {bad}: estimator.params.n_estimators:" in out
    assert f"{tmp_path / 'no_schema.yaml'}: owner: Field required" in out
    assert main([str(good)]) == 0


def test_the_schema_is_checked_before_the_estimator(tmp_path):
    path = _spec_file(tmp_path, "penguin_species", lambda r: r["estimator"].update({"class": "not a path", "params": {"n_estimators": "x"}}))
    [problem] = check([path])[path]
    assert "estimator.class: expected an import path" in problem


def test_make_check_runs_the_command_and_exits_non_zero_on_a_broken_model(tmp_path):
    _spec_file(tmp_path, "penguin_species", lambda r: r["estimator"].update({"class": "sklearn.ensemble.RandomForestClassifer"}))
    # -o: use this interpreter as it is instead of (re)installing the checkout's venv.
    out = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "check", f"PY={sys.executable}", f"MODELS={tmp_path}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0, out.stdout
    assert "estimator.class: module 'sklearn.ensemble' has no 'RandomForestClassifer'" in out.stdout
