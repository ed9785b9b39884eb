"""Shared fixtures: demo sources, a model spec factory, real MLflow/DVC stores in temp folders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from include.settings import MODELS_DIR, Settings

# The replayed history ends here in every test, so dates in tests are stable.
DEMO_END = date(2026, 12, 31)


@pytest.fixture(scope="session")
def mlflow_store_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store with all its migrations applied, made once per pytest run.

    Creating one costs about 2 s (every migration runs); copying it costs milliseconds. Experiments
    are created later with an explicit artifact location, so the copy never points at this folder.
    """
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}", registry_uri=f"sqlite:///{path}").search_experiments()
    return path


def install_mlflow_store(template: Path, settings: Settings) -> None:
    """Put a fresh copy of the migrated store where ``settings`` expects its SQLite database."""
    import shutil

    database = Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, database)


@pytest.fixture
def settings(tmp_path, monkeypatch, mlflow_store_template) -> Settings:
    """A fresh CT_HOME per test (state never leaks between tests), its MLflow store already migrated."""
    monkeypatch.setenv("CT_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings.from_env()
    install_mlflow_store(mlflow_store_template, settings)
    return settings


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory) -> Path:
    """The demo upstream systems, seeded once per session (read-only for tests)."""
    from include.demo_data import seed_demo_sources

    sources = tmp_path_factory.mktemp("sources")
    seed_demo_sources(sources, DEMO_END)
    return sources


@pytest.fixture
def spec_path():
    def _path(name: str) -> Path:
        return MODELS_DIR / f"{name}.yaml"

    return _path
