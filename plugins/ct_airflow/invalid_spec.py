"""A model whose YAML is broken, shown where Airflow users look: a failing DAG and an import error.

- ``build_invalid_spec_dag``: a stand-in with the model's own dag_id, schedule and owner, as far as the
  broken YAML still says them. A model that was running stays unpaused and keeps its schedule: each
  scheduled run fails at once with the spec error (no retries) and alerts the owner through the
  model's alert connection, instead of silently losing its nightly runs.
- ``raise_for_invalid_specs``: called by its own DAG file (``dags/model_spec_errors.py``). The
  dag-processor records import errors per file and a file that raises loses all its DAGs, so the file
  that builds the good models must not raise; this one builds no DAG and raises when any spec is
  invalid, which puts every broken YAML, with file and field, in the UI's import-error banner and in
  ``airflow dags list-import-errors``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from airflow.sdk import DAG, BaseOperator

from ct_airflow.alerts import PipelineAlertNotifier
from include.errors import SpecError
from include.spec import Alerts, ModelSpec, discover_specs, load_spec, valid_schedule

TAG = "invalid-spec"
# Airflow's own rule for a dag_id; a file name outside it gets the import error only.
_DAG_ID = re.compile(r"^[\w.-]{1,250}$")


class InvalidModelSpecs(SpecError):
    """One or more model YAMLs do not match the schema; the message lists each problem with file and field."""


class SpecErrorOperator(BaseOperator):
    """Stands in for the pipeline of a model whose YAML is invalid: fails with the spec error, never retried."""

    def __init__(self, *, error: str, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"The model YAML is invalid, so this model's pipeline cannot run (fix it; `make check` lists every problem):\n{self.error}")


def _readable(path: Path) -> dict:
    """Whatever of the YAML can still be read (nothing when it is not YAML at all)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _get(raw: dict, dotted: str, kind: type, default):
    value = raw
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, kind) and value != "" else default


def _schedule(raw: dict) -> str:
    default = ModelSpec.model_fields["schedule"].default
    schedule = _get(raw, "schedule", str, default)
    try:
        return valid_schedule(schedule)
    except ValueError:  # the schedule is itself what is broken: keep the default one
        return default


def build_invalid_spec_dag(path: Path, error: SpecError, training_schedule) -> DAG | None:
    """The stand-in DAG of a broken YAML; ``training_schedule(model, cron)`` is the real DAG's schedule.

    None when the file name cannot be a dag_id (the import error still names it).
    """
    model = path.stem
    if not _DAG_ID.match(model):
        return None
    raw = _readable(path)
    team = _get(raw, "owner.team", str, "platform")
    email = _get(raw, "owner.email", str, None)
    conn_id = _get(raw, "alerts.conn_id", str, Alerts.model_fields["conn_id"].default)
    start = _get(raw, "start_date", date, ModelSpec.model_fields["start_date"].default)
    alert = PipelineAlertNotifier(model=model, conn_id=conn_id, owner_email=email)
    with DAG(
        dag_id=model,
        description=f"INVALID model YAML {path.name}: every run fails until it is fixed",
        schedule=training_schedule(model, _schedule(raw)),
        start_date=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=sorted({"continuous-training", TAG, f"model:{model}", f"team:{team}"}),
        owner_links={team: f"mailto:{email}"} if email else {},
        doc_md=f"### Invalid model spec\n\n`{path}` does not match the schema, so this DAG only fails (and alerts "
        f"{email or team}) until the YAML is fixed. `make check` lists every problem.\n\n```\n{error}\n```\n",
        default_args={"owner": team, "retries": 0, "on_failure_callback": [alert]},
    ) as dag:
        SpecErrorOperator(task_id="invalid_spec", error=str(error), doc_md=f"Fails with the spec error of `{path.name}`.")
    return dag


def invalid_specs(models_dir: Path) -> dict[Path, SpecError]:
    """The model YAMLs in ``models_dir`` that do not load, with their errors."""
    found = {}
    for path in discover_specs(models_dir):
        try:
            load_spec(path)
        except SpecError as error:
            found[path] = error
    return found


def raise_for_invalid_specs(models_dir: Path) -> None:
    """Raise one error listing every broken YAML (file and field), so that the dag-processor records it."""
    broken = invalid_specs(models_dir)
    if broken:
        lines = "\n".join(str(error) for error in broken.values())
        raise InvalidModelSpecs(
            f"{len(broken)} model YAML(s) in {models_dir} are invalid; their DAGs ({', '.join(p.stem for p in broken)}) "
            f"only fail and alert until fixed (`make check` lists every problem):\n{lines}"
        )
