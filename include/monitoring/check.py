"""One monitoring check of a served model: drift per feature, live quality, and the verdict.

Pure: the caller reads the champion's training snapshot and the logged predictions and
outcomes; this module compares them against the thresholds in the model's YAML. The
verdict's ``reason`` is written in words because it travels: into the Asset event that
triggers retraining, onto the MLflow run of that retraining, and into the report.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import pandas as pd

from include.monitoring.drift import feature_drift
from include.spec import ModelSpec


@dataclass
class MonitoringResult:
    model: str
    version: str
    window_start: float
    window_end: float
    live_rows: int
    outcome_rows: int
    features: list[dict] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    quality: dict[str, float] = field(default_factory=dict)
    quality_failures: list[str] = field(default_factory=list)
    retrain: bool = False
    reason: str = ""
    finished_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return asdict(self)


def live_frame(predictions: list[dict], version: str) -> pd.DataFrame:
    """The champion version's logged rows: feature columns, ``prediction``, ``request_id``, ``row``."""
    rows = [{**r["features"], "prediction": r["prediction"], "request_id": r["request_id"], "row": r["row"]} for r in predictions if str(r.get("version")) == str(version)]
    return pd.DataFrame.from_records(rows)


def join_outcomes(live: pd.DataFrame, outcomes: list[dict]) -> pd.DataFrame:
    """Live rows with their ``actual`` value, on (request_id, row); the latest outcome wins."""
    if live.empty or not outcomes:
        return pd.DataFrame(columns=[*live.columns, "actual"])
    actual = pd.DataFrame.from_records([{"request_id": o["request_id"], "row": o.get("row", 0), "actual": o["actual"], "ts": o["ts"]} for o in outcomes])
    actual = actual.sort_values("ts").drop_duplicates(["request_id", "row"], keep="last").drop(columns="ts")
    return live.merge(actual, on=["request_id", "row"], how="inner")


def live_quality(spec: ModelSpec, joined: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """Metrics named in the live-quality thresholds, on the joined rows, and the bounds they break."""
    from include.evaluation import compute_metrics, threshold_failures

    thresholds = spec.live_quality_thresholds
    if joined.empty or not thresholds:
        return {}, []
    y_true, y_pred = joined["actual"], joined["prediction"]
    if spec.task == "regression":
        y_true, y_pred = pd.to_numeric(y_true, errors="coerce"), pd.to_numeric(y_pred, errors="coerce")
    else:
        y_true, y_pred = y_true.astype(str), y_pred.astype(str)
    scores = compute_metrics(list(thresholds), y_true.to_numpy(), y_pred.to_numpy())
    return scores, threshold_failures(spec, scores, thresholds)


def check(spec: ModelSpec, version: str, reference: pd.DataFrame, predictions: list[dict], outcomes: list[dict], window: tuple[float, float]) -> MonitoringResult:
    """Compare the window's live inputs with ``reference`` (the champion's training data) and decide."""
    m = spec.monitoring
    live = live_frame(predictions, version)
    result = MonitoringResult(spec.name, str(version), window[0], window[1], len(live), 0)
    reasons = []
    if len(live) >= 1:
        drift = feature_drift(reference, live, spec.features.numeric, spec.features.categorical, m.drift.p_value, m.drift.min_statistic)
        result.features = [d.to_dict() for d in drift]
        result.drifted = [d.feature for d in drift if d.drifted]
    if len(live) < m.min_rows:
        reasons.append(f"only {len(live)} live rows of version {version} in the window (min_rows {m.min_rows}): drift not judged")
    elif len(result.drifted) > m.drift.max_drifted_features:
        detail = ", ".join(f"{d['feature']} ({d['test']} {d['statistic']:.3f}, p={d['p_value']:.2g})" for d in result.features if d["drifted"])
        reasons.append(f"drift in {len(result.drifted)} feature(s) (more than {m.drift.max_drifted_features} allowed): {detail}")
        result.retrain = True
    joined = join_outcomes(live, outcomes)
    result.outcome_rows = len(joined)
    result.quality, failures = live_quality(spec, joined)
    if len(joined) >= m.min_outcomes and failures:
        result.quality_failures = failures
        reasons.append(f"live quality on {len(joined)} outcomes below threshold: {'; '.join(failures)}")
        result.retrain = True
    elif joined.empty:
        reasons.append("no outcomes joined in the window: live quality not judged")
    elif len(joined) < m.min_outcomes:
        reasons.append(f"only {len(joined)} outcomes (min_outcomes {m.min_outcomes}): live quality not judged")
    if not result.retrain:
        reasons.insert(0, "no retraining: no threshold crossed")
    result.reason = "; ".join(reasons)
    return result
