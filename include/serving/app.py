"""The model server: MLflow's scoring protocol per model, plus version reporting and hot deploys.

Routes:
  GET  /health                          every model and the version it serves
  GET  /models/{name}                   the served version (the deploy task checks it)
  GET  /models/{name}/ping              200 when a version is loaded (MLflow's /ping)
  POST /models/{name}/invocations       MLflow's scoring protocol (dataframe_split, dataframe_records,
                                        instances, inputs; JSON or CSV), answered with the
                                        X-Model-Name and X-Model-Version headers
  POST /admin/models/{name}/deploy      {"version": "3"}: load and swap (token-protected when
                                        CT_SERVING_ADMIN_TOKEN is set)

Request parsing and prediction are MLflow's own (``mlflow.pyfunc.scoring_server.invocations``),
so the server answers exactly like ``mlflow models serve``, for several models at once.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of the
# route functions at run time to tell a request body from a query parameter.
import asyncio
import hmac
import os

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from include.serving.store import ModelStore, ServedModel


class DeployRequest(BaseModel):
    version: str


def registry_loader(tracking_uri: str):
    def load(name: str, version: str) -> ServedModel:
        import mlflow
        from mlflow import MlflowClient

        from include.registry import load_pyfunc

        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        mv = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).get_model_version(name, version)
        return ServedModel(name, str(mv.version), mv.run_id, load_pyfunc(f"models:/{name}/{version}"))

    return load


def create_app(store: ModelStore, admin_token: str | None = None) -> FastAPI:
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    app = FastAPI(title="CT platform model server")

    def served_or_404(name: str) -> ServedModel:
        served = store.get(name)
        if served is None:
            raise HTTPException(404, f"model {name!r} is not deployed; deployed models: {sorted(store.all())}")
        return served

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": {n: s.version for n, s in store.all().items()}}

    @app.get("/models/{name}")
    async def describe(name: str):
        return served_or_404(name).describe()

    @app.get("/models/{name}/ping")
    async def ping(name: str):
        served_or_404(name)
        return Response(content="\n", media_type="application/json")

    @app.post("/models/{name}/invocations")
    async def invoke(name: str, request: Request):
        served = served_or_404(name)
        body = await request.body()
        content_type = request.headers.get("content-type", "application/json")
        schema = served.model.metadata.get_input_schema()
        headers = {"X-Model-Name": served.name, "X-Model-Version": served.version}
        try:
            result = await asyncio.to_thread(invocations, body, content_type, served.model, schema)
        except MlflowException as exc:
            return Response(exc.serialize_as_json(), status_code=exc.get_http_status_code(), media_type="application/json", headers=headers)
        return Response(result.response, status_code=result.status, media_type=result.mimetype, headers=headers)

    @app.post("/admin/models/{name}/deploy")
    async def deploy(name: str, request: DeployRequest, authorization: str | None = Header(default=None)):
        if admin_token and not hmac.compare_digest(authorization or "", f"Bearer {admin_token}"):
            raise HTTPException(401, "admin token required: send 'Authorization: Bearer <CT_SERVING_ADMIN_TOKEN>'")
        try:
            served = await asyncio.to_thread(store.deploy, name, request.version)
        except Exception as exc:
            return JSONResponse({"error": f"cannot load {name} version {request.version}: {type(exc).__name__}: {exc}"}, status_code=422)
        return served.describe()

    return app


def build_app_from_env():
    """The app as ``make run`` and the tests start it (``uvicorn --factory``)."""
    from include.settings import Settings

    settings = Settings.from_env()
    store = ModelStore(registry_loader(settings.mlflow_tracking_uri), settings.serving_dir / "deployed.json")
    store.restore()
    return create_app(store, os.environ.get("CT_SERVING_ADMIN_TOKEN") or None)
