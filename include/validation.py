"""Data validation with Great Expectations core (1.x, ephemeral context).

The suite is generated from the model spec: schema, types, nulls, ranges,
categories, row count and the label distribution. Each run writes GX Data Docs
(HTML, one site per model, so the index lists every run) and a JSON summary.
A failing batch is then moved to quarantine by ``include.quarantine``.

``great_expectations`` costs seconds to import, so it is imported inside the
functions, never at module level (this module is imported at DAG parse time
by nothing, but the rule keeps it safe to import anywhere).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

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
            scope = f"[{f['scope']}] " if f.get("scope") else ""
            lines.append(f"  - {scope}{f['expectation']}{column}: expected {f['expected']}, observed {f['observed']}")
        return "\n".join(lines)


def _quiet_gx() -> None:
    """GX logs a line per registered function at import and a traceback per failed render."""
    import logging

    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)


def build_batch_expectations(spec: ModelSpec) -> list:
    """Row-level rules, checked on the run's batch alone: one bad day cannot hide in a year of good ones."""
    _quiet_gx()
    import great_expectations.expectations as gxe

    exp = spec.expectations
    suite = [gxe.ExpectTableRowCountToBeBetween(min_value=exp.batch_min_rows)]
    for name, col in exp.columns.items():
        suite.append(gxe.ExpectColumnToExist(column=name))
        suite.append(gxe.ExpectColumnValuesToBeOfType(column=name, type_=GX_TYPES[col.type]))
        if col.min is not None or col.max is not None:
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=col.min, max_value=col.max))
        if col.allowed is not None:
            suite.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=col.allowed))
    if exp.duplicate_rows == "fail":
        # A file delivered twice into one day doubles its rows and tilts the model towards them.
        suite.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(exp.columns), ignore_row_if="never"))
    return suite


def build_window_expectations(spec: ModelSpec) -> list:
    """Shares and sizes, checked on the training window: a fraction of one small day means little."""
    _quiet_gx()
    import great_expectations.expectations as gxe

    exp = spec.expectations
    suite = [gxe.ExpectTableRowCountToBeBetween(min_value=exp.min_rows, max_value=exp.max_rows)]
    for name, col in exp.columns.items():
        if col.max_null_fraction < 1:
            mostly = 1 - col.max_null_fraction
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=mostly) if mostly < 1 else gxe.ExpectColumnValuesToNotBeNull(column=name))
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


def _run_suite(context, spec: ModelSpec, scope: str, expectations: list, frame: pd.DataFrame, run_name: str):
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    data = context.data_sources.get("pandas").add_dataframe_asset(f"{spec.name}_{scope}").add_batch_definition_whole_dataframe(scope)
    suite = gx.ExpectationSuite(name=f"{spec.name}_{scope}")
    for expectation in expectations:
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{spec.name}_{scope}", data=data, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{spec.name}_{scope}_checkpoint",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="docs", site_names=["report"])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    ((_, suite_result),) = result.run_results.items()
    return suite_result


def validate_batch_and_window(batch: pd.DataFrame, window: pd.DataFrame, spec: ModelSpec, report_dir: Path, run_name: str) -> ValidationOutcome:
    """Check the run's batch (row-level rules) and the training window (shares, sizes).

    Writes GX Data Docs (an index page linking both suites' results) and a JSON summary under
    ``report_dir``. Use one ``report_dir`` per run: building Data Docs replaces the pages of
    earlier runs in the same site.
    """
    _quiet_gx()
    report_dir.mkdir(parents=True, exist_ok=True)
    context = _context(report_dir / "data_docs")
    context.data_sources.add_pandas("pandas")
    results = {
        "batch": _run_suite(context, spec, "batch", build_batch_expectations(spec), batch, run_name),
        "window": _run_suite(context, spec, "window", build_window_expectations(spec), window, run_name),
    }
    failures = [{"scope": scope, **f} for scope, r in results.items() for f in _describe_failures(r)]
    html = context.get_docs_sites_urls(site_names=["report"])[0]["site_url"]
    outcome = ValidationOutcome(
        success=all(r.success for r in results.values()),
        evaluated=sum(int(r.statistics["evaluated_expectations"]) for r in results.values()),
        failed=len(failures),
        failures=failures,
        html_report=html.removeprefix("file://"),
    )
    json_path = report_dir / "validation.json"
    gx_results = {scope: r.to_json_dict() for scope, r in results.items()}
    json_path.write_text(json.dumps({**outcome.to_dict(), "gx_results": gx_results}, indent=2, default=str))
    outcome.json_report = str(json_path)
    return outcome


# --- Verdicts: the same data against the same suite gives the same verdict ----------------------

VALIDATION_CODE = Path(__file__).resolve()


def verdict_key(spec: ModelSpec, data_md5: str, batch: list[Path]) -> str:
    """What decides a validation verdict: the window's bytes (DVC md5), the batch partitions
    (immutable files, by name, size, mtime and inode), the expectations in the spec, this module's
    code and the GX version."""
    import hashlib
    from importlib import metadata

    from include.ingest import file_stat

    parts = {
        "data_md5": data_md5,
        "batch": [[p.name, *file_stat(p)] if p.exists() else [p.name] for p in batch],
        "expectations": spec.expectations.model_dump(mode="json"),
        "task": spec.task, "target": spec.target,
        "code_sha256": hashlib.sha256(VALIDATION_CODE.read_bytes()).hexdigest(),
        "great_expectations": metadata.version("great_expectations"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def passed_before(verdicts_dir: Path, key: str) -> dict | None:
    """The passing verdict recorded for ``key``, if its reports are still there to show."""
    try:
        verdict = json.loads((Path(verdicts_dir) / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    reports = [verdict.get("html_report"), verdict.get("json_report")]
    return verdict if verdict.get("success") and all(r and Path(r).exists() for r in reports) else None


def remember_pass(verdicts_dir: Path, key: str, outcome: ValidationOutcome, run: str) -> None:
    """Only passes are kept: a failure quarantines its batch, and a re-run must look again."""
    from include.ingest import write_atomically

    if outcome.success:
        record = {"success": True, "evaluated": outcome.evaluated, "html_report": outcome.html_report, "json_report": outcome.json_report, "run": run}
        write_atomically(Path(verdicts_dir) / f"{key}.json", json.dumps(record, indent=2).encode())
