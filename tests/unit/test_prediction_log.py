"""The prediction log's files, its bounded queue, outcomes validation, and metric labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from include.monitoring.prediction_log import PredictionLog, partition_file, read_records, record_outcomes
from include.serving.telemetry import DriftFiguresCollector, ServingTelemetry, outcome_label

TS = datetime(2026, 6, 2, 13, 30, tzinfo=UTC).timestamp()


def test_records_go_to_hourly_files_and_read_back_by_window(tmp_path):
    log = PredictionLog(tmp_path)
    log.record("m", "3", "req1", [{"x": 1.0}, {"x": 2.0}], [10.0, 20.0])
    log.close()
    files = list(tmp_path.glob("m/date=*/hour=*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert [(r["request_id"], r["row"], r["version"], r["features"], r["prediction"]) for r in lines] == [("req1", 0, "3", {"x": 1.0}, 10.0), ("req1", 1, "3", {"x": 2.0}, 20.0)]
    ts = lines[0]["ts"]
    assert len(list(read_records(tmp_path, "m", ts - 1, ts + 1))) == 2
    assert list(read_records(tmp_path, "m", ts + 1, ts + 3600)) == []
    assert list(read_records(tmp_path, "other", 0, 2e9)) == []


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    dropped = []
    log = PredictionLog(tmp_path, max_queue=1, on_drop=lambda model, n: dropped.append(n))
    # The writer may take one item at any moment; 50 puts into a queue of one must drop some.
    for i in range(50):
        log.record("m", "1", f"r{i}", [{"x": i}], [i])
    log.close()
    written = sum(1 for _ in read_records(tmp_path, "m", 0, 2e9))
    assert dropped and written + sum(dropped) == 50


def test_outcomes_are_validated_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"outcome #1: expected an object with a non-empty 'request_id'"):
        record_outcomes(tmp_path, "m", [{"request_id": "a", "actual": 1}, {"actual": 2}], now=TS)
    with pytest.raises(ValueError, match=r"outcome #0: 'row' must be a row index"):
        record_outcomes(tmp_path, "m", [{"request_id": "a", "row": -1, "actual": 1}], now=TS)
    assert not (tmp_path / "m").exists()
    assert record_outcomes(tmp_path, "m", [{"request_id": "a", "actual": 1}], now=TS) == 1
    assert partition_file(tmp_path, "m", TS).name == "hour=13.jsonl"
    assert [r["row"] for r in read_records(tmp_path, "m", TS, TS + 1)] == [0]


def test_a_line_cut_by_a_crash_is_skipped(tmp_path):
    record_outcomes(tmp_path, "m", [{"request_id": "a", "actual": 1}], now=TS)
    with open(partition_file(tmp_path, "m", TS), "a") as out:
        out.write('{"request_id": "b", "ac')
    assert [r["request_id"] for r in read_records(tmp_path, "m", 0, 2e9)] == ["a"]


@pytest.mark.parametrize(("value", "label"), [("sun", "sun"), (3, "3"), (0.0, "0"), (14.2, "[8,16)"), (-3.5, "(-4,-2]"), (float("nan"), "nan"), (True, "True")])
def test_prediction_labels_stay_few(value, label):
    assert outcome_label(value) == label


def test_drift_figures_become_gauges(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"model": "m", "features": [{"feature": "x", "test": "ks", "statistic": 0.4, "p_value": 0.001, "drifted": True}],
                                                 "quality": {"rmse": 2.5}, "live_rows": 80, "outcome_rows": 40, "finished_at": 5}))
    (tmp_path / "broken.json").write_text("{")
    from prometheus_client import generate_latest

    text = generate_latest(ServingTelemetry(drift_dir=tmp_path).registry).decode()
    assert 'ct_drift_statistic{feature="x",model="m",test="ks"} 0.4' in text
    assert 'ct_drift_detected{feature="x",model="m"} 1.0' in text
    assert 'ct_live_quality{metric="rmse",model="m"} 2.5' in text
    assert next(iter(DriftFiguresCollector(tmp_path / "none").collect())).samples == []
