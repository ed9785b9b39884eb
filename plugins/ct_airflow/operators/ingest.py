"""Ingest the days the run owns into immutable partitions and build the training snapshot."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseOperator

from ct_airflow.common import model_spec, owned_window, verdicts_are_final
from ct_airflow.hooks.dvc import DvcHook


def _landing_root(spec, settings) -> Path:
    path = Path(spec.source.path)
    return path if path.is_absolute() else settings.sources_dir / path


class IngestOperator(BaseOperator):
    """Read the days the run owns (``owned_window``: the README's rule) from the model's source; write
    partitions and the snapshot.

    Returns (as separate XComs) the batch days, row counts, the snapshot path and ``run_window`` (the
    days owned and which part of the rule gave them). A run that may not own the days it asks for (a
    ``day`` not yet complete) fails here, first, without retry.
    """

    template_fields = ("spec_path",)
    ui_color = "#e8f4fd"

    def __init__(self, *, spec_path: str, dvc_conn_id: str = DvcHook.default_conn_name, **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.spec_path = spec_path
        self.dvc_conn_id = dvc_conn_id

    def _reader(self, spec, settings):
        from include import sources

        source = spec.source
        if source.kind == "files":
            root = _landing_root(spec, settings)
            columns = list(spec.expectations.columns)
            return lambda start, end: sources.read_files(root, source.format, source.date_column, start, end, columns)
        from airflow.sdk import BaseHook

        engine = BaseHook.get_connection(source.conn_id).get_hook().get_sqlalchemy_engine()
        where = f"sql source (connection {source.conn_id!r}) of model {spec.name!r}"
        return lambda start, end: sources.read_sql(engine, source.query, source.date_column, start, end, where)

    def execute(self, context):
        from ct_airflow.assets import retrain_reason
        from ct_airflow.common import run_key
        from ct_airflow.estimator_gate import refuse_untrainable_estimator
        from include.errors import SourceDataError, SourceError
        from include.ingest import day_range, ingest_window
        from include.settings import Settings

        # Before any data is read: an estimator scikit-learn would refuse fails the run here, not in train.
        refuse_untrainable_estimator(self.spec_path, context, self.log)
        spec = model_spec(self.spec_path)
        settings = Settings.from_env()
        # This run's own snapshot: a nightly run and a backfill day of one model may run at once.
        snapshot = settings.staging_dir / spec.name / f"{run_key(context)}.parquet"
        window = owned_window(context)
        start, end = window.start, window.end
        self.log.info("This run owns %s (%s); ingesting %s with a %s-day window", window.label, window.basis, spec.name, spec.window_days)
        owned = window.to_dict()
        # Why an Asset event started the run, where the run's first task shows it (train also tags it on the version).
        if reason := retrain_reason(context.get("triggering_asset_events")):
            self.log.info("Started by an asset event: %s", reason)
            owned["retrain_reason"] = reason
        try:
            with verdicts_are_final():
                result = ingest_window(
                    self._reader(spec, settings), settings.lake_dir / spec.name, snapshot, spec.source.date_column, start, end,
                    spec.window_days, schema={name: column.type for name, column in spec.expectations.columns.items()},
                    # Unchanged window: the versioned snapshot is reused instead of rebuilt.
                    previous_snapshot=DvcHook(self.dvc_conn_id).workspace.snapshot_path(spec.name),
                )
                if result.undeclared_columns:
                    self._undeclared(spec, result)
        except SourceDataError as exc:
            self._quarantine(spec, settings, context, exc)
        except SourceError as exc:
            # Unreachable or missing: nothing arrived to keep, and a retry may well succeed.
            batch = [d.isoformat() for d in day_range(start, end)]
            raise SourceError(f"Could not read the source of model {spec.name!r} for batch {batch} (Airflow retries the task): {exc}") from exc
        if result.quarantined_days_left_out:
            self.log.warning("Left out of the window (quarantined, re-run those dates once fixed): %s", result.quarantined_days_left_out)
        self.log.info(
            "Batch %s: %d rows; %d partitions written; snapshot %s: %d rows (window %s..%s)%s",
            result.batch_days, result.batch_rows, len(result.partitions_written), result.snapshot_path,
            result.snapshot_rows, result.window_start, result.window_end,
            "; same window as the versioned snapshot: reused, not rebuilt" if result.reused_snapshot else "",
        )
        return {**result.to_dict(), "run_window": owned}

    def _undeclared(self, spec, result) -> None:
        from include.errors import SourceDataError

        where = f"model {spec.name!r}, batch {result.batch_days}"
        if spec.expectations.extra_columns == "fail":
            from datetime import date

            raise SourceDataError(
                f"{where}: the source sends columns the spec does not declare: {result.undeclared_columns} "
                f"(expected only {sorted(spec.expectations.columns)}; expectations.extra_columns is 'fail')",
                days=[date.fromisoformat(d) for d in result.batch_days],
            )
        self.log.warning("%s: ignoring columns the spec does not declare: %s (expectations.extra_columns: warn)", where, result.undeclared_columns)

    @staticmethod
    def _landed_files(spec, settings, days) -> list[Path]:
        """The files behind refused days, kept as evidence (a files source; an SQL source has none to copy)."""
        if spec.source.kind != "files":
            return []
        root = _landing_root(spec, settings)
        return [f for d in days for f in sorted((root / f"date={d.isoformat()}").glob(f"*.{spec.source.format}"))]

    def _quarantine(self, spec, settings, context, exc) -> None:
        """Unusable source data is a verdict about those days: keep the evidence, mark the days, fail without retry."""
        from airflow.sdk.exceptions import AirflowFailException

        from ct_airflow.common import run_key
        from include.ingest import partition_path
        from include.quarantine import quarantine

        days = sorted(exc.days)
        evidence = exc.files or self._landed_files(spec, settings, days)
        message = f"Ingestion refused the data of model {spec.name!r} for {[d.isoformat() for d in days]}: {exc}"
        kept = quarantine(
            [partition_path(settings.lake_dir / spec.name, d) for d in days], evidence,
            settings.quarantine_dir / spec.name / run_key(context), message,
        )
        raise AirflowFailException(
            f"{message}\nThe offending files are copied to quarantine at {kept} (the source is left as it is). "
            f"Nothing was trained; the champion keeps serving. Later runs leave these days out of their window; "
            f"re-run this date once the source is fixed."
        ) from exc
