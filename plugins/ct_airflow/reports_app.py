"""A small web app, mounted in the Airflow API server by our plugin, that serves the reports
the pipeline writes to disk: Great Expectations Data Docs, model cards with their plots, drift reports.

Only files under the reports folder are served; nothing here writes. Every route needs the same
login as the Airflow UI (its session cookie or a bearer token): reports show data and metrics.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse


def _reports_dir() -> Path:
    from include.settings import Settings

    return Settings.from_env().reports_dir


def _inside_reports(relative: str) -> Path:
    root = _reports_dir().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise HTTPException(404, f"only files under the reports folder are served; {relative!r} is outside it")
    if not path.is_file():
        raise HTTPException(404, f"no report at {path} (reports live under {root})")
    return path


def create_app() -> FastAPI:
    # The API server's own dependency: the UI's session cookie or a bearer JWT, else 401/403.
    from airflow.api_fastapi.core_api.security import requires_authenticated

    app = FastAPI(title="CT platform reports", docs_url=None, redoc_url=None, dependencies=[Depends(requires_authenticated())])

    @app.get("/files/{relative:path}")
    def report_file(relative: str):
        return FileResponse(_inside_reports(relative))

    @app.get("/model-card/{model}/{version}")
    def model_card(model: str, version: str):
        from include.model_card import card_dir

        return FileResponse(_inside_reports(str(card_dir(_reports_dir(), model, version).relative_to(_reports_dir()) / "model_card.html")))

    @app.get("/drift/{model}")
    def drift_report(model: str):
        """The newest report of the ``<model>__monitoring`` DAG (include/monitoring/run.py writes one per run)."""
        folder = _reports_dir() / model / "monitoring"
        reports = sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
        if not reports:
            raise HTTPException(404, f"{model} has no drift report yet: its {model}__monitoring DAG writes them to {folder}")
        return FileResponse(_inside_reports(str(reports[-1].relative_to(_reports_dir()))))

    return app
