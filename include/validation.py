"""Data validation with Great Expectations core (1.x, ephemeral context).

The suite is generated from the model spec: schema, types, nulls, ranges,
categories, row count and the label distribution. Each run writes GX Data Docs
(HTML, one site per model, so the index lists every run) and a JSON summary.
A failing batch is moved to the quarantine folder (never deleted) and its days are
marked in the lake, so that later windows leave them out.

``great_expectations`` costs seconds to import, so it is imported inside the
functions, never at module level (this module is imported at DAG parse time
by nothing, but the rule keeps it safe to import anywhere).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from include.ingest import marker_of
from include.spec import ModelSpec

# Our column types -> the type names GX checks against pandas dtypes.
# GX compares by kind: "int64" also matches the nullable Int64 partitions are stored with, "bool" matches boolean.
GX_TYPES = {"float": "float64", "int": "int64", "str": "str", "bool": "bool", "datetime": "datetime64"}


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    failed: int
    failures: list[dict] = field(default_factory=list)
    html_report: str | None = None
    json_report: str | None = None
    quarantine: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.failed} of {self.evaluated} expectations failed:"]
        for f in self.failures:
            column = f" on column {f['column']!r}" if f.get("column") else ""
            lines.append(f"  - {f['expectation']}{column}: expected {f['expected']}, observed {f['observed']}")
        return "\n".join(lines)


def _quiet_gx() -> None:
    """GX logs a line per registered function at import and a traceback per failed render."""
    import logging

    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)


def build_expectations(spec: ModelSpec) -> list:
    """The expectation list for one model, in a stable order."""
    _quiet_gx()
    import great_expectations.expectations as gxe

    exp = spec.expectations
    suite = [
        gxe.ExpectTableRowCountToBeBetween(min_value=exp.min_rows, max_value=exp.max_rows),
        # Extra columns are allowed (the model ignores them); missing ones are not.
        gxe.ExpectTableColumnsToMatchSet(column_set=sorted(exp.columns), exact_match=False),
    ]
    for name, col in exp.columns.items():
        suite.append(gxe.ExpectColumnToExist(column=name))
        suite.append(gxe.ExpectColumnValuesToBeOfType(column=name, type_=GX_TYPES[col.type]))
        if col.max_null_fraction < 1:
            mostly = 1 - col.max_null_fraction
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=mostly) if mostly < 1 else gxe.ExpectColumnValuesToNotBeNull(column=name))
        if col.min is not None or col.max is not None:
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=col.min, max_value=col.max))
        if col.allowed is not None:
            suite.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=col.allowed))
    if exp.label is not None:
        label = exp.label
        suite.append(gxe.ExpectColumnUniqueValueCountToBeBetween(column=spec.target, min_value=label.min_classes))
        for cls in exp.columns[spec.target].allowed or []:
            # "mostly" counts non-null rows: the share of rows of this class is at least min_share ...
            if label.min_share > 0:
                suite.append(gxe.ExpectColumnValuesToBeInSet(column=spec.target, value_set=[cls], mostly=label.min_share))
            # ... and at most max_share.
            if label.max_share < 1:
                suite.append(gxe.ExpectColumnValuesToNotBeInSet(column=spec.target, value_set=[cls], mostly=1 - label.max_share))
    return suite


def _describe_failures(suite_result) -> list[dict]:
    failures = []
    for r in suite_result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        res = r.result or {}
        error = _exception_message(r.exception_info)
        if error:
            observed = "error: " + error[:300]
        elif "observed_value" in res:
            observed = res["observed_value"]
        elif "unexpected_count" in res:
            observed = (
                f"{res['unexpected_count']} of {res.get('element_count')} rows unexpected "
                f"({res.get('unexpected_percent') or 0:.1f}% of non-null), e.g. {res.get('partial_unexpected_list', [])[:5]}"
            )
        else:
            observed = res
        expected = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "column") and v is not None}
        failures.append({"expectation": cfg.type, "column": cfg.kwargs.get("column"), "expected": expected, "observed": observed})
    return failures


def _exception_message(info) -> str | None:
    """GX nests exception info by metric id when a column is missing; find the first message."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        message = _exception_message(value)
        if message:
            return message
    return None


def _context(docs_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # GX passes disable= to tqdm explicitly, so TQDM_DISABLE does not silence it; this does.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # The ephemeral context's own docs site points at a random temp folder: use ours.
    context.add_data_docs_site(
        "report",
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.delete_data_docs_site("local_site")
    return context


def validate_frame(frame: pd.DataFrame, spec: ModelSpec, report_dir: Path, run_name: str) -> ValidationOutcome:
    """Run the model's suite on ``frame``; write Data Docs HTML and a JSON summary under ``report_dir``.

    Use one ``report_dir`` per run: building Data Docs replaces the pages of earlier runs in the same site.
    """
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    report_dir.mkdir(parents=True, exist_ok=True)
    context = _context(report_dir / "data_docs")
    batch = context.data_sources.add_pandas("pandas").add_dataframe_asset(spec.name).add_batch_definition_whole_dataframe("snapshot")
    suite = gx.ExpectationSuite(name=f"{spec.name}_training_data")
    for expectation in build_expectations(spec):
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=spec.name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{spec.name}_checkpoint",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="docs", site_names=["report"])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    ((identifier, suite_result),) = result.run_results.items()
    html = context.get_docs_sites_urls(resource_identifier=identifier, site_names=["report"])[0]["site_url"]
    stats = suite_result.statistics
    outcome = ValidationOutcome(
        success=bool(suite_result.success),
        evaluated=int(stats["evaluated_expectations"]),
        failed=int(stats["unsuccessful_expectations"]),
        failures=_describe_failures(suite_result),
        html_report=html.removeprefix("file://"),
    )
    json_path = report_dir / "validation.json"
    json_path.write_text(json.dumps({**outcome.to_dict(), "gx_result": suite_result.to_json_dict()}, indent=2, default=str))
    outcome.json_report = str(json_path)
    return outcome


def quarantine(batch: list[Path], evidence: list[Path], destination: Path, outcome: ValidationOutcome) -> Path:
    """Move the failing batch out of the lake into quarantine, with a copy of the evidence.

    Each moved partition leaves a marker in the lake (``include.ingest.marker_of``), so the next days' windows leave the bad
    day out and keep training. Re-running the same date reads the source again.
    Nothing is ever deleted.
    """
    destination.mkdir(parents=True, exist_ok=True)
    (destination / "REASON.txt").write_text(outcome.summary() + "\n")
    for file in [*evidence, *(Path(r) for r in (outcome.json_report,) if r)]:
        if file.exists():
            shutil.copy2(file, destination / file.name)
    for file in batch:
        if file.exists():
            shutil.move(file, destination / file.name)
            marker_of(file).write_text(json.dumps({"quarantine": str(destination), "reason": outcome.summary()}))
    return destination


def release(batch: list[Path]) -> None:
    """A batch day that now passes validation is no longer left out of windows."""
    for file in batch:
        marker_of(file).unlink(missing_ok=True)
