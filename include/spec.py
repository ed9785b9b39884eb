"""Model specs: one YAML per model in ``include/models/``, checked against one schema.

``load_spec(path)`` is pure and cheap (YAML + pydantic, no ML imports) because the
DAG factory calls it at parse time. Errors name the file and the field, e.g.::

    include/models/penguins.yaml: evaluation.thresholds.accuracy.min: Input should be a valid number (found 'high')
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from include.errors import SpecError

# Metrics we know how to compute, and whether bigger is better.
METRICS: dict[str, dict] = {
    "accuracy": {"task": "classification", "higher_is_better": True},
    "f1_macro": {"task": "classification", "higher_is_better": True},
    "balanced_accuracy": {"task": "classification", "higher_is_better": True},
    "rmse": {"task": "regression", "higher_is_better": False},
    "mae": {"task": "regression", "higher_is_better": False},
    "r2": {"task": "regression", "higher_is_better": True},
}
COLUMN_TYPES = ("float", "int", "str", "bool", "datetime")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


def valid_schedule(value: str) -> str:
    """A cron expression or preset the scheduler can compute runs from.

    Airflow does not validate the cron of an ``AssetOrTimeSchedule`` when it parses the DAG, so a
    schedule like ``0 25 * * *`` would only fail later, in the scheduler; here it fails with its field.
    """
    from croniter import croniter

    # Airflow's one preset that croniter lacks (airflow.sdk.definitions.timetables._cron.CRON_PRESETS).
    if value != "@quarterly" and not croniter.is_valid(value):
        raise ValueError(f"expected a cron expression like '0 2 * * *' or a preset like '@daily', found {value!r}")
    return value


class _Strict(BaseModel):
    # Unknown keys are errors: a typo in a YAML must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Owner(_Strict):
    team: str = Field(min_length=1)
    email: str | None = None


class FilesSource(_Strict):
    """Date-partitioned files: ``<path>/date=YYYY-MM-DD/*.csv`` (or ``*.parquet``)."""

    kind: Literal["files"]
    path: str = Field(description="folder of the partitions; relative paths are under $CT_HOME/sources")
    format: Literal["csv", "parquet"] = "csv"
    date_column: str


class SqlSource(_Strict):
    """An SQL query over a database reached through an Airflow connection.

    The query selects one interval with the bind parameters ``:start`` and ``:end``
    (ISO dates, end exclusive).
    """

    kind: Literal["sql"]
    conn_id: str
    query: str
    date_column: str

    @field_validator("query")
    @classmethod
    def _binds_interval(cls, query: str) -> str:
        missing = [p for p in (":start", ":end") if p not in query]
        if missing:
            raise ValueError(f"the query must filter on the interval with {' and '.join(missing)} (found: {query!r})")
        return query


Source = Annotated[FilesSource | SqlSource, Field(discriminator="kind")]


class Features(_Strict):
    numeric: list[str] = []
    categorical: list[str] = []

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class Estimator(_Strict):
    # Checked for shape only: importing scikit-learn at DAG parse time costs seconds. The class and its
    # params are checked against scikit-learn by include/estimator_check.py (make check, start of a run).
    class_: str = Field(alias="class")
    params: dict = {}

    @field_validator("class_")
    @classmethod
    def _is_import_path(cls, value: str) -> str:
        if not _IMPORT_PATH.match(value):
            raise ValueError(f"expected an import path like 'sklearn.ensemble.RandomForestClassifier', found {value!r}")
        return value


class Bound(_Strict):
    min: float | None = None
    max: float | None = None


class Slices(_Strict):
    """Holdout slices that must each pass the thresholds: a model better on average can still fail a group."""

    by: list[str] = Field(min_length=1, description="categorical columns; each of their values is one slice")
    min_rows: int = Field(20, ge=1, description="slices with fewer holdout rows are reported but not judged")
    thresholds: dict[str, Bound] = Field(default_factory=dict, description="bounds per slice; empty means evaluation.thresholds")


class Evaluation(_Strict):
    metrics: list[str] = Field(min_length=1)
    primary_metric: str
    thresholds: dict[str, Bound] = {}
    promotion_margin: float = Field(0.0, ge=0, description="the challenger must beat the champion by more than this on the primary metric")
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    slices: Slices | None = None


class ColumnExpectation(_Strict):
    type: Literal[COLUMN_TYPES]  # type: ignore[valid-type]
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None
    max_null_fraction: float = Field(0.0, ge=0, le=1)


class LabelExpectation(_Strict):
    """Label distribution: each class within [min_share, max_share] (classification)."""

    min_share: float = Field(0.0, ge=0, le=1)
    max_share: float = Field(1.0, ge=0, le=1)
    min_classes: int = Field(2, ge=1)


class Expectations(_Strict):
    """What the data must look like. Row-level rules (columns, types, ranges, categories, duplicates) are
    checked on each run's batch, so a bad day is caught whatever the window holds; shares (nulls, label
    classes) and ``min_rows`` are checked on the training window, where a fraction means something."""

    min_rows: int = Field(1, ge=0, description="rows the training window needs")
    max_rows: int | None = None
    batch_min_rows: int = Field(0, ge=0, description="rows each run's batch needs; 0 accepts a day with no data")
    extra_columns: Literal["warn", "fail"] = Field("warn", description="columns the source has but the spec does not declare")
    duplicate_rows: Literal["fail", "allow"] = Field("fail", description="identical rows within one batch")
    columns: dict[str, ColumnExpectation]
    label: LabelExpectation | None = None


class Deploy(_Strict):
    """Where the champion is served. ``local``: the platform's model server, told which version to
    load. ``docker``: one immutable image per version, a container behind the serving router
    (README, "Deploy target docker"); the engine and base image come from the ``docker_default``
    connection or the environment, never from here."""

    target: Literal["local", "docker"] = "local"
    smoke_rows: int = Field(3, ge=1)
    keep_images: int = Field(3, ge=2, description="docker: images of this model kept; current and previous are always kept")
    health_timeout_s: float = Field(120, gt=0, description="docker: how long a new container may take to become healthy")


class DriftThresholds(_Strict):
    """When a feature counts as drifted (include/monitoring/drift.py): significant AND large enough."""

    p_value: float = Field(0.01, gt=0, lt=1, description="a test's p-value below this is significant")
    min_statistic: float = Field(0.1, ge=0, le=1, description="and its effect (KS D, Cramér's V) at least this")
    max_drifted_features: int = Field(0, ge=0, description="retrain when more features than this drift")


class Monitoring(_Strict):
    """The ``<model>__monitoring`` DAG: live inputs vs the champion's training data, live quality."""

    enabled: bool = True
    schedule: Annotated[str, AfterValidator(valid_schedule)] = "@hourly"
    window_hours: int = Field(24, ge=1, description="live predictions compared, counted back from the run's interval end")
    min_rows: int = Field(50, ge=1, description="fewer live rows: drift is reported but never triggers retraining")
    drift: DriftThresholds = DriftThresholds()
    quality: dict[str, Bound] = Field(default_factory=dict, description="bounds on live quality; empty means evaluation.thresholds")
    min_outcomes: int = Field(30, ge=1, description="fewer outcomes: live quality is reported but never triggers retraining")


class Alerts(_Strict):
    """Where the owning team hears about failures and late runs."""

    conn_id: str = Field("ct_alerts", description="Airflow connection: http(s) = a Slack-compatible webhook, smtp/email = mail to owner.email; absent = log only")
    deadline_minutes: int = Field(180, ge=1, description="alert when a run is not finished this long after it was queued")


class ModelSpec(_Strict):
    """Everything that defines one model's continuous-training pipeline."""

    name: str
    description: str
    owner: Owner
    task: Literal["classification", "regression"]
    schedule: Annotated[str, AfterValidator(valid_schedule)] = "@daily"
    start_date: date = date(2020, 1, 1)
    source: Source
    window_days: int = Field(365, ge=1, description="days of history in each training snapshot")
    target: str
    features: Features
    estimator: Estimator
    evaluation: Evaluation
    expectations: Expectations
    deploy: Deploy = Deploy()
    monitoring: Monitoring = Monitoring()
    alerts: Alerts = Alerts()
    tags: list[str] = []
    overrides: list[str] = Field(
        default_factory=list,
        description="estimator params an operator may override from the trigger form (each must be in estimator.params)",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"expected lower_snake_case starting with a letter (it names the DAG and the registered model), found {name!r}")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        problems = []
        if not self.features.all:
            problems.append("features: at least one numeric or categorical feature is required")
        if self.target in self.features.all:
            problems.append(f"features: the target {self.target!r} cannot also be a feature")
        for metric in [*self.evaluation.metrics, *self.evaluation.thresholds]:
            known = METRICS.get(metric)
            if known is None:
                problems.append(f"evaluation: unknown metric {metric!r}; expected one of {sorted(METRICS)}")
            elif known["task"] != self.task:
                problems.append(f"evaluation: metric {metric!r} is for {known['task']}, but task is {self.task}")
        sliced = list(self.evaluation.slices.thresholds) if self.evaluation.slices else []
        uncomputed = [m for m in [*self.evaluation.thresholds, *sliced] if m not in self.evaluation.metrics]
        if uncomputed:
            problems.append(f"evaluation.thresholds: {uncomputed} must also be listed in evaluation.metrics {self.evaluation.metrics} (only those are computed)")
        if self.evaluation.primary_metric not in self.evaluation.metrics:
            problems.append(f"evaluation.primary_metric: {self.evaluation.primary_metric!r} is not in evaluation.metrics {self.evaluation.metrics}")
        missing = [c for c in [*self.features.all, self.target] if c not in self.expectations.columns]
        if missing:
            problems.append(f"expectations.columns: every feature and the target needs an expectation; missing {missing}")
        if self.expectations.label and self.task != "classification":
            problems.append("expectations.label: label shares only apply to classification")
        slices = self.evaluation.slices
        if slices is not None:
            unknown = [c for c in slices.by if c not in self.features.categorical]
            if unknown:
                problems.append(f"evaluation.slices.by: {unknown} must be categorical features {self.features.categorical}")
        unknown_quality = [m for m in self.monitoring.quality if m not in self.evaluation.metrics]
        if unknown_quality:
            problems.append(f"monitoring.quality: {unknown_quality} must be listed in evaluation.metrics {self.evaluation.metrics}")
        unknown_overrides = [name for name in self.overrides if name not in self.estimator.params]
        if unknown_overrides:
            problems.append(f"overrides: {unknown_overrides} must be keys of estimator.params {sorted(self.estimator.params)} (their type comes from there)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def with_overrides(self, overrides: dict | None) -> ModelSpec:
        """This spec with trigger-time estimator overrides applied; refuses what the YAML does not allow."""
        if not overrides:
            return self
        refused = sorted(set(overrides) - set(self.overrides))
        if refused:
            raise SpecError(f"{self.name}: overrides {refused} are not allowed by the model YAML; allowed: {self.overrides or 'none'} (field 'overrides')")
        for name, value in overrides.items():
            default = self.estimator.params[name]
            # bool is an int in Python: compare exact types, but let an int stand for a float.
            if not (type(value) is type(default) or (type(default) is float and type(value) is int) or default is None):
                raise SpecError(f"{self.name}: override {name!r} expects {type(default).__name__} like the YAML's {default!r}, found {value!r}")
        estimator = self.estimator.model_copy(update={"params": {**self.estimator.params, **overrides}})
        return self.model_copy(update={"estimator": estimator})

    @property
    def live_quality_thresholds(self) -> dict[str, Bound]:
        return dict(self.monitoring.quality or self.evaluation.thresholds)

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.evaluation.primary_metric]["higher_is_better"]

    def training_config(self) -> dict:
        """The part of the spec that changes the trained model (goes into the fingerprint)."""
        return {
            "task": self.task,
            "target": self.target,
            "features": self.features.model_dump(),
            "estimator": {"class": self.estimator.class_, "params": self.estimator.params},
            "holdout_fraction": self.evaluation.holdout_fraction,
            "window_days": self.window_days,
        }


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        found = item.get("input")
        # Our own validators already quote the value they reject.
        found_text = "" if isinstance(found, dict) or item["type"] in ("missing", "value_error") else f" (found {found!r})"
        lines.append(f"{path}: {where}: {item['msg'].removeprefix('Value error, ')}{found_text}")
    return "\n".join(lines)


# libyaml's C loader where PyYAML was built with it: the dag-processor loads every spec on each
# parse, and the pure-Python loader took two thirds of the parse time (bench/parse_time.py).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate one model YAML; the model name is the file name."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the model spec: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of fields at the top level, found {type(raw).__name__}")
    if "name" in raw and raw["name"] != path.stem:
        raise SpecError(f"{path}: name: must equal the file name {path.stem!r} (found {raw['name']!r}); omit it to use the file name")
    try:
        return ModelSpec.model_validate({**raw, "name": path.stem})
    except ValidationError as exc:
        raise SpecError(_format_errors(path, exc)) from None


def discover_specs(models_dir: str | Path) -> list[Path]:
    """Model YAMLs in a stable order (DAG parsing must be deterministic)."""
    return sorted(Path(models_dir).glob("*.yaml"))
