"""Where the platform keeps its state, read from the environment.

The embedded default keeps everything under one folder (``CT_HOME``, default
``.state`` in the checkout) so that ``make clean`` can wipe it. The production
stack points the same code elsewhere with environment variables (and Airflow
connections, which the hooks in ``plugins/`` prefer when they exist).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "include" / "models"


@dataclass(frozen=True)
class Settings:
    home: Path
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    dvc_remote_url: str
    serving_url: str
    mlflow_ui_url: str = "http://127.0.0.1:5000"

    @property
    def lake_dir(self) -> Path:
        """Immutable daily partitions, one folder per model."""
        return self.home / "lake"

    @property
    def sources_dir(self) -> Path:
        """Where the demo upstream systems (landing folder, SQLite database) live."""
        return self.home / "sources"

    @property
    def staging_dir(self) -> Path:
        """Per-run training snapshots (``<model>/<run>.parquet``): concurrent runs never share one file."""
        return self.home / "staging"

    @property
    def dvc_workspace(self) -> Path:
        return self.home / "dvc"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving"

    @property
    def monitoring_dir(self) -> Path:
        """What the model server and the monitoring DAGs share (one volume in the production stack):
        the prediction log, outcomes, and ``latest/<model>.json``, the figures the server exports."""
        return self.home / "monitoring"

    @property
    def predictions_dir(self) -> Path:
        """Every served prediction, hourly JSON-lines files per model (include/monitoring/prediction_log.py)."""
        return self.monitoring_dir / "predictions"

    @property
    def outcomes_dir(self) -> Path:
        """Ground truth fed back, joined to predictions on request id."""
        return self.monitoring_dir / "outcomes"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("CT_HOME", PROJECT_ROOT / ".state")).resolve()
        return cls(
            home=home,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{home}/mlflow/mlflow.db"),
            mlflow_artifact_root=env.get("CT_MLFLOW_ARTIFACT_ROOT", str(home / "mlflow" / "artifacts")),
            dvc_remote_url=env.get("CT_DVC_REMOTE", str(home / "dvc-remote")),
            serving_url=env.get("CT_SERVING_URL", "http://127.0.0.1:5001"),
            # What a browser opens for MLflow (extra links); the tracking URI may be a database.
            mlflow_ui_url=env.get("CT_MLFLOW_UI_URL", "http://127.0.0.1:5000").rstrip("/"),
        )
