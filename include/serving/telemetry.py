"""Prometheus metrics of the model server, in a registry of its own.

Each app gets its own ``CollectorRegistry`` (not the process-global one) so that two
apps in one process, as in the tests, never collide on metric names. The drift figures
that the monitoring DAG computes are exported here too (``DriftFiguresCollector``):
the DAG writes ``<serving_dir>/monitoring/<model>.json`` and every scrape reads the
latest one, so no pushgateway is needed and a restarted server still exports them.

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set by ``python -m include.serving
--workers N``, a fresh folder per start) every worker writes its samples to that folder and a
scrape, whichever worker answers it, sums the counters and histograms of all of them
(``MultiProcessCollector``). The served-version gauges take the most recently set value, and
the version/run labels are a gauge (1 = served now, 0 = served before) since ``Info`` has no
multiprocess mode.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

# Scoring here takes 2-30 ms; the buckets resolve that range and the slow tail.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingTelemetry:
    """Requests, errors, latency, predictions and the served version, per model."""

    def __init__(self, drift_dir: Path | None = None):
        self.drift_dir = drift_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("ct_serving_requests", "Prediction requests answered, by model and HTTP status.", ["model", "status"], registry=r)
        self.errors = Counter("ct_serving_errors", "Prediction requests answered with 4xx or 5xx, by model and error kind.", ["model", "kind"], registry=r)
        self.latency = Histogram("ct_serving_request_seconds", "Time to answer a prediction request (parse, validate, predict).", ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("ct_serving_predictions", "Predicted rows, by model and class (classification) or value bucket (regression).", ["model", "version", "outcome"], registry=r)
        self.served_version = Gauge("ct_serving_model_version", "The model version being served (as a number, for graphs of deploys).", ["model"], registry=r, multiprocess_mode="mostrecent")
        self.served_info = Gauge("ct_serving_model_info", "The model version being served (1) and versions served before it since the start (0), with the MLflow run.", ["model", "run_id", "version"], registry=r, multiprocess_mode="mostrecent")
        self._info_labels: dict[str, tuple[str, str]] = {}
        self.log_dropped = Counter("ct_prediction_log_dropped", "Prediction records dropped because the log writer fell behind.", ["model"], registry=r)
        self.log_written = Counter("ct_prediction_log_written", "Prediction records appended to the prediction log.", ["model"], registry=r)
        if drift_dir is not None:
            r.register(DriftFiguresCollector(drift_dir))

    def scrape_registry(self) -> CollectorRegistry:
        """What /metrics exports: this registry, or every worker's samples in multiprocess mode."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(merged)
        if self.drift_dir is not None:
            merged.register(DriftFiguresCollector(self.drift_dir))
        return merged

    def served(self, name: str, version: str, run_id: str | None) -> None:
        labels = (run_id or "", str(version))
        previous = self._info_labels.get(name)
        if previous is not None and previous != labels:
            self.served_info.labels(name, *previous).set(0)
        self.served_info.labels(name, *labels).set(1)
        self._info_labels[name] = labels
        try:
            self.served_version.labels(model=name).set(float(version))
        except ValueError:
            log.warning("model %s version %r is not a number; only ct_serving_model_info shows it", name, version)

    def predicted(self, name: str, version: str, values) -> None:
        counts: dict[str, int] = {}
        for value in values:
            key = outcome_label(value)
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            self.predictions.labels(model=name, version=version, outcome=key).inc(n)


def outcome_label(value) -> str:
    """A class name as is; a number as a power-of-two bucket so that label values stay few.

    A regression model's predictions are counted per bucket ``[2^k, 2^(k+1))`` (sign kept),
    which bounds the label set to ~60 values whatever the target's unit.
    """
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)[:64]
    if math.isnan(number):
        return "nan"
    if number.is_integer() and abs(number) < 100 and not isinstance(value, float):
        return str(int(number))  # integer class labels
    if number == 0:
        return "0"
    exponent = math.floor(math.log2(abs(number)))
    low, high = 2.0**exponent, 2.0 ** (exponent + 1)
    return f"[{low:g},{high:g})" if number > 0 else f"(-{high:g},-{low:g}]"


class DriftFiguresCollector:
    """Gauges from the latest drift JSON per model, read at scrape time (the files are small)."""

    def __init__(self, drift_dir: Path):
        self.drift_dir = Path(drift_dir)

    def describe(self):
        return []  # the label sets depend on the files: nothing to pre-declare

    def collect(self):
        statistic = GaugeMetricFamily("ct_drift_statistic", "Drift statistic per feature (KS D for numeric, Cramér's V from chi-square for categorical).", labels=["model", "feature", "test"])
        p_value = GaugeMetricFamily("ct_drift_p_value", "p-value of the drift test per feature: small means the live inputs differ from training.", labels=["model", "feature", "test"])
        drifted = GaugeMetricFamily("ct_drift_detected", "1 when the feature crosses the model's drift threshold.", labels=["model", "feature"])
        quality = GaugeMetricFamily("ct_live_quality", "Quality on live predictions whose outcomes came back.", labels=["model", "metric"])
        rows = GaugeMetricFamily("ct_monitoring_rows", "Rows the latest monitoring run compared (live inputs, outcomes).", labels=["model", "kind"])
        checked = GaugeMetricFamily("ct_monitoring_timestamp_seconds", "When the latest monitoring run finished.", labels=["model"])
        for path in sorted(self.drift_dir.glob("*.json")) if self.drift_dir.is_dir() else []:
            try:
                figures = json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("skipping unreadable drift figures %s", path)
                continue
            model = figures.get("model", path.stem)
            for feature in figures.get("features", []):
                statistic.add_metric([model, feature["feature"], feature["test"]], _num(feature.get("statistic")))
                p_value.add_metric([model, feature["feature"], feature["test"]], _num(feature.get("p_value")))
                drifted.add_metric([model, feature["feature"]], 1.0 if feature.get("drifted") else 0.0)
            for metric, value in (figures.get("quality") or {}).items():
                quality.add_metric([model, metric], _num(value))
            rows.add_metric([model, "live"], float(figures.get("live_rows", 0)))
            rows.add_metric([model, "outcomes"], float(figures.get("outcome_rows", 0)))
            checked.add_metric([model], float(figures.get("finished_at", 0)))
        yield from (statistic, p_value, drifted, quality, rows, checked)


def _num(value) -> float:
    return float("nan") if value is None else float(value)
