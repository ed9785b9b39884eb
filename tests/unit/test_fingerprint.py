"""The training fingerprint: same inputs, same fingerprint; any input that shapes the model changes it."""

from __future__ import annotations

import copy

import pytest

from include.fingerprint import TRAINING_CODE, TRAINING_LIBRARIES, code_digest, compute_fingerprint, library_versions
from include.spec import load_spec

MD5 = "0123456789abcdef0123456789abcdef"
CODE = "c" * 64
LIBS = {"scikit-learn": "1.9.1", "numpy": "2.4.6", "scipy": "1.16.0", "pandas": "3.1.1"}


@pytest.fixture
def config(spec_path) -> dict:
    return load_spec(spec_path("seattle_temp_max")).training_config()


def _fp(md5=MD5, config=None, code=CODE, libs=LIBS) -> str:
    return compute_fingerprint(md5, config, code, libs)["fingerprint"]


def test_fingerprint_is_deterministic_and_a_sha256(config):
    first = compute_fingerprint(MD5, config, CODE, LIBS)
    second = compute_fingerprint(MD5, copy.deepcopy(config), CODE, dict(LIBS))
    assert first == second
    assert len(first["fingerprint"]) == 64 and int(first["fingerprint"], 16) >= 0


def test_fingerprint_does_not_depend_on_key_order(config):
    reordered = dict(reversed(list(config.items())))
    reordered["estimator"] = {"params": dict(reversed(list(config["estimator"]["params"].items()))), "class": config["estimator"]["class"]}
    assert _fp(config=reordered) == _fp(config=config)
    assert _fp(config=config, libs=dict(reversed(list(LIBS.items())))) == _fp(config=config)


def test_fingerprint_keeps_its_parts_for_traceability(config):
    parts = compute_fingerprint(MD5, config, CODE, LIBS)["parts"]
    assert parts == {"data_md5": MD5, "training_config": config, "code_sha256": CODE, "libraries": LIBS}


def test_changed_data_changes_the_fingerprint(config):
    assert _fp(md5="f" * 32, config=config) != _fp(config=config)


def test_changed_training_config_changes_the_fingerprint(config):
    changed = copy.deepcopy(config)
    changed["estimator"]["params"]["n_estimators"] += 1
    assert _fp(config=changed) != _fp(config=config)


def test_changed_code_changes_the_fingerprint(config):
    assert _fp(config=config, code="d" * 64) != _fp(config=config)


@pytest.mark.parametrize("library", sorted(LIBS))
def test_a_changed_library_version_changes_the_fingerprint(config, library):
    assert _fp(config=config, libs={**LIBS, library: LIBS[library] + ".post1"}) != _fp(config=config)


def test_thresholds_and_owner_do_not_change_the_fingerprint(tmp_path, spec_path):
    import yaml

    raw = yaml.safe_load(spec_path("seattle_temp_max").read_text(encoding="utf-8"))
    raw["evaluation"]["thresholds"]["rmse"]["max"] = 1.0
    raw["owner"] = {"team": "new-owners"}
    path = tmp_path / "seattle_temp_max.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    original = load_spec(spec_path("seattle_temp_max")).training_config()
    assert _fp(config=load_spec(path).training_config()) == _fp(config=original)


def test_defaults_use_the_real_code_and_library_versions(config):
    parts = compute_fingerprint(MD5, config)["parts"]
    assert parts["code_sha256"] == code_digest()
    assert parts["libraries"] == library_versions()
    assert set(parts["libraries"]) == set(TRAINING_LIBRARIES)


def test_the_training_code_is_preprocessing_and_training():
    assert {p.name for p in TRAINING_CODE} == {"preprocessing.py", "training.py"}
    assert all(p.is_file() for p in TRAINING_CODE)


# --- code_digest ----------------------------------------------------------------------------------


@pytest.fixture
def code_files(tmp_path):
    a = tmp_path / "preprocessing.py"
    b = tmp_path / "training.py"
    a.write_text("def split():\n    return 1\n", encoding="utf-8")
    b.write_text("def train():\n    return 2\n", encoding="utf-8")
    return a, b


def test_code_digest_is_deterministic(code_files):
    assert code_digest(files=code_files) == code_digest(files=tuple(code_files))
    assert len(code_digest(files=code_files)) == 64


def test_code_digest_changes_when_a_training_file_changes(code_files):
    before = code_digest(files=code_files)
    code_files[1].write_text("def train():\n    return 3\n", encoding="utf-8")
    assert code_digest(files=code_files) != before


def test_code_digest_changes_with_a_whitespace_only_edit(code_files):
    before = code_digest(files=code_files)
    code_files[0].write_text(code_files[0].read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert code_digest(files=code_files) != before


def test_code_digest_covers_every_file(code_files):
    assert code_digest(files=code_files) != code_digest(files=code_files[:1])


def test_code_digest_depends_on_the_file_name(tmp_path, code_files):
    renamed = tmp_path / "other.py"
    renamed.write_bytes(code_files[0].read_bytes())
    assert code_digest(files=(renamed, code_files[1])) != code_digest(files=code_files)


def test_library_versions_reads_installed_metadata():
    from importlib import metadata

    assert library_versions(("pandas",)) == {"pandas": metadata.version("pandas")}
