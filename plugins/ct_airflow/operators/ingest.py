"""Ingest the run's data interval into immutable partitions and build the training snapshot."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseOperator

from ct_airflow.common import as_day, model_spec, verdicts_are_final


class IngestOperator(BaseOperator):
    """Read ``[interval_start, interval_end)`` from the model's source; write partitions and the snapshot.

    Returns (as separate XComs) the batch days, row counts and the snapshot path.
    """

    template_fields = ("spec_path", "interval_start", "interval_end")
    ui_color = "#e8f4fd"

    def __init__(self, *, spec_path: str, interval_start="{{ data_interval_start }}", interval_end="{{ data_interval_end }}", **kwargs):
        super().__init__(multiple_outputs=True, **kwargs)
        self.spec_path = spec_path
        self.interval_start = interval_start
        self.interval_end = interval_end

    def _reader(self, spec, settings):
        from include import sources

        source = spec.source
        if source.kind == "files":
            root = Path(source.path) if Path(source.path).is_absolute() else settings.sources_dir / source.path
            return lambda start, end: sources.read_files(root, source.format, source.date_column, start, end)
        from airflow.sdk import BaseHook

        engine = BaseHook.get_connection(source.conn_id).get_hook().get_sqlalchemy_engine()
        where = f"sql source (connection {source.conn_id!r}) of model {spec.name!r}"
        return lambda start, end: sources.read_sql(engine, source.query, source.date_column, start, end, where)

    def execute(self, context):
        from ct_airflow.hooks.dvc import DvcHook
        from include.ingest import ingest_window
        from include.settings import Settings

        spec = model_spec(self.spec_path)
        settings = Settings.from_env()
        snapshot = DvcHook().workspace.snapshot_path(spec.name)
        start, end = as_day(self.interval_start), as_day(self.interval_end)
        self.log.info("Ingesting %s for days [%s, %s) with a %s-day window", spec.name, start, end, spec.window_days)
        with verdicts_are_final():
            result = ingest_window(
                self._reader(spec, settings), settings.lake_dir / spec.name, snapshot, spec.source.date_column, start, end,
                spec.window_days, schema={name: column.type for name, column in spec.expectations.columns.items()},
            )
        if result.quarantined_days_left_out:
            self.log.warning("Left out of the window (quarantined, re-run those dates once fixed): %s", result.quarantined_days_left_out)
        self.log.info(
            "Batch %s: %d rows; %d partitions written; snapshot %s: %d rows (window %s..%s)",
            result.batch_days, result.batch_rows, len(result.partitions_written), result.snapshot_path,
            result.snapshot_rows, result.window_start, result.window_end,
        )
        return result.to_dict()
