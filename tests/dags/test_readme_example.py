"""The README's "add a third model" example must stay a valid spec that builds a DAG."""

from __future__ import annotations

import re
from pathlib import Path

from include.spec import load_spec

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_third_model_example_in_the_readme_is_a_valid_spec(tmp_path):
    (yaml_text,) = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.DOTALL)
    path = tmp_path / "seattle_weather_type.yaml"
    path.write_text(yaml_text)

    spec = load_spec(path)
    assert (spec.name, spec.task, spec.source.kind) == ("seattle_weather_type", "classification", "files")

    from ct_airflow.dag_factory import build_all

    dag = build_all(models_dir=tmp_path)["seattle_weather_type"]
    assert "invalid-spec" not in dag.tags and "train" in dag.task_ids
