"""The raw scikit-learn path answers exactly what pyfunc answers, on the real registered model."""

from __future__ import annotations

import numpy as np

from include.serving.scoring_request import SignatureRows, to_frame
from include.settings import Settings


def test_raw_predictions_equal_pyfuncs(registered_home):
    from include.serving.app import registry_loader

    home, name, version = registered_home
    served = registry_loader(Settings.from_env({"CT_HOME": str(home)}).mlflow_tracking_uri)(name, version)
    assert served.scorer.path == "raw"
    rows = SignatureRows(served.model.metadata.get_input_schema(), 10_000)
    rng = np.random.default_rng(3)
    records = [
        {"temp_min": float(rng.normal(8, 5)), "precipitation": float(rng.exponential(3)), "wind": float(rng.uniform(0, 8)), "weather": str(rng.choice(["sun", "fog", "rain", "hail"]))}
        for _ in range(300)
    ]
    records[4]["weather"] = None
    records[9]["wind"] = None
    batches = {"300 rows": records, "1 row": records[:1], "a null text": [dict(records[0], weather=None)], "a null number only": [dict(records[0], temp_min=None)]}
    for label, batch in batches.items():
        frame = to_frame(rows.validate(batch), rows.columns)
        assert np.array_equal(served.scorer.predict(frame), served.model.predict(frame)), label
    # An all-null number column is object dtype here; MLflow would cast it, so that frame went through pyfunc.
    lone_null = to_frame([dict(records[0], temp_min=None)], rows.columns)
    assert served.scorer._raw_for_dtypes[(tuple(lone_null.columns), tuple(str(d) for d in lone_null.dtypes))] is False
    full = to_frame(records[:1], rows.columns)
    assert served.scorer._raw_for_dtypes[(tuple(full.columns), tuple(str(d) for d in full.dtypes))] is True
