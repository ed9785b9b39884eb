"""Shared fixtures: demo sources, a model spec factory, real MLflow/DVC stores in temp folders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from include.settings import MODELS_DIR, Settings

# The replayed history ends here in every test, so dates in tests are stable.
DEMO_END = date(2026, 12, 31)


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """A fresh CT_HOME per test (state never leaks between tests)."""
    monkeypatch.setenv("CT_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Settings.from_env()


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
