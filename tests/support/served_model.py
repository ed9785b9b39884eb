"""A real registered model for serving tests, trained once on small synthetic weather data.

It goes through the project's own ``train_and_register`` with the shipped Seattle spec, so
the served model has the same signature (three float columns and a string column) as in
production, in a few seconds and without DVC or Airflow.
"""

from __future__ import annotations

from pathlib import Path

from include.settings import MODELS_DIR, Settings

MODEL = "seattle_temp_max"


def synthetic_weather(rows: int = 400):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    temp_min = rng.normal(8, 5, rows)
    return pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", periods=rows, freq="D"),
            "temp_min": temp_min,
            "precipitation": rng.exponential(3, rows),
            "wind": rng.uniform(0, 8, rows),
            "weather": rng.choice(["sun", "fog", "rain", "drizzle", "snow"], rows),
            "temp_max": temp_min + 7 + rng.normal(0, 1, rows),
        }
    )


def register_seattle_model(home: Path) -> tuple[str, str]:
    """Train and register one version in ``home``'s MLflow store; returns (model name, version)."""
    from include.fingerprint import compute_fingerprint
    from include.registry import Registry
    from include.spec import load_spec
    from include.training import train_and_register

    settings = Settings.from_env({"CT_HOME": str(home)})
    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    spec = load_spec(MODELS_DIR / f"{MODEL}.yaml")
    fingerprint = compute_fingerprint("synthetic", spec.training_config())
    result = train_and_register(spec, synthetic_weather(), {"md5": "synthetic"}, fingerprint, {"run_id": "serving-tests"}, registry)
    return MODEL, result.version
