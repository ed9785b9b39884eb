"""Validate the run's batch and the training window with Great Expectations core; quarantine on failure."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from airflow.sdk import BaseOperator

from ct_airflow.common import model_spec, run_key
from ct_airflow.links import ValidationReportLink


class GxValidateOperator(BaseOperator):
    """Run the suites generated from the model spec: row-level rules on the batch, shares on the window.

    On failure the batch partitions move to ``$CT_HOME/quarantine/<model>/<run>/``
    (with the snapshot, the JSON result and the reason), the Data Docs HTML is
    written, and the task fails without retry: training and deployment do not
    run and the champion keeps serving.

    With ``data_md5`` (the snapshot's DVC md5), a pass is remembered under what decides it
    (``include.validation.verdict_key``): a re-run on the same data and suite reuses that verdict
    and its report instead of running GX again.
    """

    template_fields = ("spec_path", "snapshot_path", "batch_days", "data_md5")
    ui_color = "#ff6f61"
    operator_extra_links = (ValidationReportLink(),)

    def __init__(self, *, spec_path: str, snapshot_path: str, batch_days, data_md5: str | None = None, **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.spec_path = spec_path
        self.snapshot_path = snapshot_path
        self.batch_days = batch_days
        self.data_md5 = data_md5

    def execute(self, context):
        import pandas as pd
        from airflow.sdk.exceptions import AirflowFailException

        from include.ingest import partition_path
        from include.quarantine import quarantine, release
        from include.settings import Settings
        from include.validation import passed_before, remember_pass, validate_batch_and_window, verdict_key

        spec = model_spec(self.spec_path)
        settings = Settings.from_env()
        key = run_key(context)
        batch = [partition_path(settings.lake_dir / spec.name, date.fromisoformat(d)) for d in self.batch_days]
        verdicts = settings.reports_dir / spec.name / "verdicts"
        verdict = verdict_key(spec, self.data_md5, batch) if self.data_md5 else None
        earlier = passed_before(verdicts, verdict) if verdict else None
        if earlier is not None:
            self.log.info(
                "Same data (md5 %s, batch %s) and same expectations as run %s, which passed all %d: not validated again. Report: %s",
                self.data_md5, list(self.batch_days), earlier["run"], earlier["evaluated"], earlier["html_report"],
            )
            release(batch)
            return {"success": True, "html_report": earlier["html_report"], "json_report": earlier["json_report"]}
        parts = [pd.read_parquet(p) for p in batch if p.exists()]
        batch_rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        outcome = validate_batch_and_window(batch_rows, pd.read_parquet(self.snapshot_path), spec, settings.reports_dir / spec.name / key, key)
        self.log.info("Validation report (HTML): %s", outcome.html_report)
        self.log.info("Validation result (JSON): %s", outcome.json_report)
        if outcome.success:
            self.log.info("All %d expectations passed (batch %s: %d rows)", outcome.evaluated, list(self.batch_days), len(batch_rows))
            release(batch)
            if verdict:
                remember_pass(verdicts, verdict, outcome, key)
            return {"success": True, "html_report": outcome.html_report, "json_report": outcome.json_report}
        message = f"Data validation failed for model {spec.name!r}, batch {list(self.batch_days)}: {outcome.summary()}"
        evidence = [Path(self.snapshot_path), Path(outcome.json_report)]
        kept = quarantine(batch, evidence, settings.quarantine_dir / spec.name / key, message)
        raise AirflowFailException(
            f"{message}\nThe batch is kept in quarantine at {kept}; report: {outcome.html_report}. "
            f"Nothing was trained; the champion keeps serving. Later runs leave these days out of their window; "
            f"re-run this date once the source is fixed."
        )
