"""Model spec loading: the shipped YAMLs load, and every mistake is reported with the file and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from include.errors import SpecError
from include.settings import MODELS_DIR
from include.spec import ModelSpec, discover_specs, load_spec

SHIPPED = ("seattle_temp_max", "penguin_species")


def _raw(spec_path, name: str) -> dict:
    return yaml.safe_load(spec_path(name).read_text(encoding="utf-8"))


def _write(tmp_path: Path, raw, name: str = "my_model") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _load_mutated(tmp_path, spec_path, base: str, mutate) -> ModelSpec:
    raw = copy.deepcopy(_raw(spec_path, base))
    mutate(raw)
    return load_spec(_write(tmp_path, raw))


# --- the shipped specs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_loads_and_takes_its_name_from_the_file(spec_path, name):
    spec = load_spec(spec_path(name))
    assert spec.name == name
    assert spec.target not in spec.features.all
    assert {*spec.features.all, spec.target} <= set(spec.expectations.columns)
    assert spec.evaluation.primary_metric in spec.evaluation.metrics


def test_shipped_specs_have_the_expected_shape(spec_path):
    seattle = load_spec(spec_path("seattle_temp_max"))
    penguins = load_spec(spec_path("penguin_species"))
    assert (seattle.task, seattle.source.kind, seattle.higher_is_better) == ("regression", "files", False)
    assert (penguins.task, penguins.source.kind, penguins.higher_is_better) == ("classification", "sql", True)
    assert penguins.source.date_column == "date_egg"
    assert seattle.estimator.class_ == "sklearn.ensemble.GradientBoostingRegressor"


def test_discover_specs_is_sorted_and_finds_every_shipped_yaml():
    found = discover_specs(MODELS_DIR)
    assert found == sorted(found)
    assert {p.stem for p in found} >= set(SHIPPED)


# --- errors name the file and the field ----------------------------------------------------------


def test_wrong_type_in_a_threshold_names_the_file_and_the_field_path(tmp_path, spec_path):
    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"]["thresholds"]["rmse"].update(max="high"))
    message = str(info.value)
    assert str(tmp_path / "my_model.yaml") in message
    assert "evaluation.thresholds.rmse.max" in message
    assert "'high'" in message


def test_an_unknown_key_is_rejected_not_ignored(tmp_path, spec_path):
    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"].update(promotion_margn=0.1))
    assert "evaluation.promotion_margn" in str(info.value)
    assert "my_model.yaml" in str(info.value)


def test_an_unknown_top_level_key_is_rejected(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"my_model\.yaml: windw_days: "):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(windw_days=30))


def test_missing_owner_is_reported(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"my_model\.yaml: owner: Field required"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.pop("owner"))


def test_owner_without_team_is_reported(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"owner\.team"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(owner={"email": "x@example.com"}))


def test_a_metric_of_the_other_task_is_rejected(tmp_path, spec_path):
    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"].update(metrics=["rmse", "accuracy"]))
    assert "'accuracy' is for classification, but task is regression" in str(info.value)
    assert "my_model.yaml" in str(info.value)


def test_a_threshold_on_a_metric_of_the_other_task_is_rejected(tmp_path, spec_path):
    def mutate(raw):
        raw["evaluation"]["thresholds"]["rmse"] = {"max": 1.0}

    with pytest.raises(SpecError, match="'rmse' is for regression, but task is classification"):
        _load_mutated(tmp_path, spec_path, "penguin_species", mutate)


def test_an_unknown_metric_is_rejected(tmp_path, spec_path):
    with pytest.raises(SpecError, match="unknown metric 'mape'"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"].update(metrics=["rmse", "mape"]))


def test_primary_metric_must_be_one_of_the_metrics(tmp_path, spec_path):
    def mutate(raw):
        raw["evaluation"].update(metrics=["rmse", "mae"], primary_metric="r2")

    with pytest.raises(SpecError, match=r"evaluation\.primary_metric: 'r2' is not in evaluation\.metrics"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", mutate)


def test_the_target_cannot_be_a_feature(tmp_path, spec_path):
    with pytest.raises(SpecError, match="the target 'temp_max' cannot also be a feature"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["features"]["numeric"].append("temp_max"))


def test_every_feature_needs_an_expectation(tmp_path, spec_path):
    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["features"]["numeric"].append("humidity"))
    assert "expectations.columns" in str(info.value)
    assert "'humidity'" in str(info.value)


def test_the_target_needs_an_expectation(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"expectations\.columns.*'temp_max'"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["expectations"]["columns"].pop("temp_max"))


def test_at_least_one_feature_is_required(tmp_path, spec_path):
    with pytest.raises(SpecError, match="at least one numeric or categorical feature"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r.update(features={"numeric": [], "categorical": []}))


@pytest.mark.parametrize(
    "query, missing",
    [
        ('SELECT * FROM penguins_raw WHERE "Date Egg" >= :start', ":end"),
        ('SELECT * FROM penguins_raw WHERE "Date Egg" < :end', ":start"),
        ("SELECT * FROM penguins_raw", ":start and :end"),
    ],
)
def test_an_sql_query_must_bind_the_interval(tmp_path, spec_path, query, missing):
    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "penguin_species", lambda r: r["source"].update(query=query))
    message = str(info.value)
    assert "my_model.yaml" in message
    assert "source.sql.query" in message
    assert f"with {missing} " in message


def test_an_unknown_source_kind_is_rejected(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"my_model\.yaml: source: .*'s3'"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["source"].update(kind="s3"))


def test_the_estimator_class_must_be_an_import_path(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"estimator\.class: expected an import path"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["estimator"].update({"class": "RandomForest"}))


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_holdout_fraction_must_be_strictly_between_0_and_1(tmp_path, spec_path, fraction):
    with pytest.raises(SpecError, match=r"evaluation\.holdout_fraction"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"].update(holdout_fraction=fraction))


def test_label_shares_are_only_for_classification(tmp_path, spec_path):
    with pytest.raises(SpecError, match="label shares only apply to classification"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["expectations"].update(label={"min_share": 0.1}))


def test_a_name_that_differs_from_the_file_name_is_rejected(tmp_path, spec_path):
    raw = {**_raw(spec_path, "seattle_temp_max"), "name": "other_model"}
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, raw, name="my_model"))
    message = str(info.value)
    assert "my_model.yaml: name:" in message
    assert "'my_model'" in message and "'other_model'" in message


def test_a_name_equal_to_the_file_name_is_accepted(tmp_path, spec_path):
    raw = {**_raw(spec_path, "seattle_temp_max"), "name": "my_model"}
    assert load_spec(_write(tmp_path, raw, name="my_model")).name == "my_model"


def test_a_file_name_that_is_not_a_valid_model_name_is_rejected(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"Bad-Model\.yaml: name: expected lower_snake_case"):
        load_spec(_write(tmp_path, _raw(spec_path, "seattle_temp_max"), name="Bad-Model"))


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = _write(tmp_path, "description: [unclosed\nowner: {team: x\n")
    with pytest.raises(SpecError, match=r"my_model\.yaml: not valid YAML"):
        load_spec(path)


@pytest.mark.parametrize("text, found", [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "NoneType")])
def test_the_top_level_must_be_a_mapping(tmp_path, text, found):
    with pytest.raises(SpecError, match=rf"my_model\.yaml: expected a mapping of fields at the top level, found {found}"):
        load_spec(_write(tmp_path, text))


def test_a_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match=r"nowhere\.yaml: cannot read the model spec"):
        load_spec(tmp_path / "nowhere.yaml")


def test_every_error_of_a_spec_is_reported_at_once(tmp_path, spec_path):
    def mutate(raw):
        raw.pop("owner")
        raw["evaluation"]["thresholds"]["rmse"]["max"] = "high"

    with pytest.raises(SpecError) as info:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", mutate)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(tmp_path / "my_model.yaml")) for line in lines)


def test_a_threshold_on_a_metric_that_is_not_computed_is_rejected(tmp_path, spec_path):
    # seattle_temp_max has thresholds on rmse and mae; drop mae from the computed metrics.
    with pytest.raises(SpecError, match=r"evaluation\.thresholds"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda r: r["evaluation"].update(metrics=["rmse"]))


# --- the training config (what goes into the fingerprint) -----------------------------------------


def _config_after(tmp_path, spec_path, mutate) -> dict:
    return _load_mutated(tmp_path, spec_path, "seattle_temp_max", mutate).training_config()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r["evaluation"]["thresholds"]["rmse"].update(max=9.9), id="threshold"),
        pytest.param(lambda r: r["evaluation"].update(promotion_margin=0.5), id="promotion_margin"),
        pytest.param(lambda r: r["evaluation"].update(metrics=["rmse", "mae"]), id="metrics"),
        pytest.param(lambda r: r.update(owner={"team": "someone-else"}), id="owner"),
        pytest.param(lambda r: r.update(schedule="@weekly"), id="schedule"),
        pytest.param(lambda r: r.update(description="reworded"), id="description"),
        pytest.param(lambda r: r.update(tags=["x"]), id="tags"),
        pytest.param(lambda r: r.update(deploy={"target": "local", "smoke_rows": 7}), id="deploy"),
        pytest.param(lambda r: r["expectations"].update(min_rows=5), id="expectations"),
    ],
)
def test_training_config_ignores_what_does_not_change_the_model(tmp_path, spec_path, mutate):
    original = load_spec(spec_path("seattle_temp_max")).training_config()
    assert _config_after(tmp_path, spec_path, mutate) == original


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r["estimator"]["params"].update(n_estimators=10), id="estimator_param"),
        pytest.param(lambda r: (r["estimator"].update({"class": "sklearn.linear_model.Ridge", "params": {}}), r.update(overrides=[])), id="estimator_class"),
        pytest.param(lambda r: r["features"]["numeric"].remove("wind"), id="features"),
        pytest.param(lambda r: r["evaluation"].update(holdout_fraction=0.3), id="holdout_fraction"),
        pytest.param(lambda r: r.update(window_days=30), id="window_days"),
    ],
)
def test_training_config_changes_with_what_changes_the_model(tmp_path, spec_path, mutate):
    original = load_spec(spec_path("seattle_temp_max")).training_config()
    assert _config_after(tmp_path, spec_path, mutate) != original


def test_training_config_has_no_owner_or_thresholds(spec_path):
    config = load_spec(spec_path("penguin_species")).training_config()
    flat = repr(config)
    assert "ecology" not in flat  # the owner team
    assert "thresholds" not in flat and "0.85" not in flat
    assert config["estimator"] == {
        "class": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 200, "min_samples_leaf": 2, "random_state": 0},
    }


# --- data policies and slices --------------------------------------------------------------------


def test_data_policies_have_safe_defaults_and_the_shipped_specs_state_theirs(spec_path):
    seattle, penguins = load_spec(spec_path("seattle_temp_max")), load_spec(spec_path("penguin_species"))
    assert (seattle.expectations.batch_min_rows, seattle.expectations.extra_columns) == (1, "warn")
    assert (penguins.expectations.batch_min_rows, penguins.expectations.extra_columns) == (0, "fail")
    assert seattle.expectations.duplicate_rows == penguins.expectations.duplicate_rows == "fail"
    assert penguins.evaluation.slices.by == ["island"] and seattle.evaluation.slices is None


def test_an_unknown_extra_columns_policy_names_the_field_and_the_choices(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"expectations\.extra_columns: Input should be 'warn' or 'fail' \(found 'ignore'\)"):
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda raw: raw["expectations"].update(extra_columns="ignore"))


def test_slices_must_be_categorical_features(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"evaluation\.slices\.by: \['culmen_length_mm'\] must be categorical features"):
        _load_mutated(tmp_path, spec_path, "penguin_species", lambda raw: raw["evaluation"]["slices"].update(by=["culmen_length_mm"]))


def test_a_slice_threshold_must_be_a_computed_metric(tmp_path, spec_path):
    with pytest.raises(SpecError, match=r"\['balanced_accuracy'\] must also be listed in evaluation\.metrics"):
        _load_mutated(tmp_path, spec_path, "penguin_species", lambda raw: raw["evaluation"]["slices"]["thresholds"].update(balanced_accuracy={"min": 0.5}))


@pytest.mark.parametrize("field", ["schedule", "monitoring.schedule"])
def test_a_schedule_the_scheduler_cannot_compute_is_refused_with_its_field(tmp_path, spec_path, field):
    def mutate(raw):
        target = raw["monitoring"] if field.startswith("monitoring") else raw
        target["schedule"] = "0 25 * * *"

    with pytest.raises(SpecError) as error:
        _load_mutated(tmp_path, spec_path, "seattle_temp_max", mutate)
    assert str(error.value) == f"{tmp_path / 'my_model.yaml'}: {field}: expected a cron expression like '0 2 * * *' or a preset like '@daily', found '0 25 * * *'"


@pytest.mark.parametrize("schedule", ["@daily", "@quarterly", "30 2 * * 1-5"])
def test_presets_and_cron_expressions_are_accepted(tmp_path, spec_path, schedule):
    assert _load_mutated(tmp_path, spec_path, "seattle_temp_max", lambda raw: raw.update(schedule=schedule)).schedule == schedule
