"""The model server: MLflow's scoring protocol per model, plus version reporting and hot deploys.

Routes:
  GET  /health                          every model and the version it serves
  GET  /models/{name}                   the served version (the deploy task checks it)
  GET  /models/{name}/ping              200 when a version is loaded (MLflow's /ping)
  POST /models/{name}/invocations       MLflow's scoring protocol (dataframe_split, dataframe_records,
                                        instances, inputs as JSON, or CSV), answered with the
                                        X-Model-Name and X-Model-Version headers; needs
                                        'Authorization: Bearer <CT_SERVING_TOKEN>' when that is set
                                        and X-Request-Id (each row is logged under it)
  POST /models/{name}/outcomes          ground truth joined on request id: {"outcomes": [{"request_id":
                                        "...", "row": 0, "actual": 14.2}]}; same token as predictions
  GET  /metrics                         Prometheus: requests, errors, latency, predictions, served
                                        version, and the drift figures of the latest monitoring run
  POST /admin/models/{name}/deploy      {"version": "3"}: load and swap; needs the admin token
                                        (CT_SERVING_ADMIN_TOKEN), and refuses (503) when none is set;
                                        with several workers it answers once every live worker
                                        serves the version (``workers``), else 502/504 naming them

A prediction request is bounded (bytes, rows, seconds) and validated against the model's
signature (``scoring_request``) before the model sees it: a bad request is a 4xx with a JSON
message saying what was expected and what was found, never a 5xx.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of the
# route functions at run time to tell a request body from a query parameter.
import asyncio
import io
import logging
import os
import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from include.serving.config import ServingConfig
from include.serving.guards import bearer_matches, read_bounded_body
from include.serving.scoring_request import BadScoringRequest, SignatureRows, to_frame
from include.serving.store import ModelStore, ServedModel
from include.serving.telemetry import ServingTelemetry
from include.serving.workers import DeployedFileWatcher, WorkersLag, wait_until_served

log = logging.getLogger(__name__)


class DeployRequest(BaseModel):
    version: str


class OutcomesRequest(BaseModel):
    outcomes: list


# A caller's own request id is kept when it is a plain token (it ends up in file names and logs).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


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


def create_app(store: ModelStore, config: ServingConfig | None = None, telemetry: ServingTelemetry | None = None, prediction_log=None, outcomes_dir=None, watcher: DeployedFileWatcher | None = None) -> FastAPI:
    """``prediction_log`` (a ``PredictionLog``) records every scored row; ``outcomes_dir`` takes ground truth;
    ``watcher`` (one of several worker processes) follows the deploys that reach other workers."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    config = config or ServingConfig()
    telemetry = telemetry or ServingTelemetry()
    for served in store.all().values():
        telemetry.served(served.name, served.version, served.run_id)

    @asynccontextmanager
    async def lifespan(app):
        following = None
        if watcher is not None:
            watcher.on_swap = lambda served: telemetry.served(served.name, served.version, served.run_id)
            # Up to date and reported before the first request: a deploy never waits on a worker that is not listening.
            await asyncio.to_thread(watcher.sync)
            following = asyncio.create_task(watcher.run())
        yield
        if following is not None:
            following.cancel()
            watcher.status.withdraw()
        if prediction_log is not None:
            await asyncio.to_thread(prediction_log.close)  # what is queued reaches the disk

    app = FastAPI(title="CT platform model server", lifespan=lifespan)
    validators: dict[tuple[str, str], SignatureRows | None] = {}

    def served_or_404(name: str) -> ServedModel:
        served = store.get(name)
        if served is None:
            raise HTTPException(404, f"model {name!r} is not deployed; deployed models: {sorted(store.all())}")
        return served

    def validator_for(served: ServedModel) -> SignatureRows | None:
        key = (served.name, served.version)
        if key not in validators:
            schema = served.model.metadata.get_input_schema()
            validators[key] = SignatureRows(schema, config.max_rows) if SignatureRows.supports(schema) else None
        return validators[key]

    @app.get("/health")
    async def health():
        # "worker": which process answered (several share the port); every one serves the same versions.
        return {"status": "ok", "worker": os.getpid(), "models": {n: s.version for n, s in store.all().items()}}

    @app.get("/models/{name}")
    async def describe(name: str):
        return served_or_404(name).describe()

    @app.get("/models/{name}/ping")
    async def ping(name: str):
        served_or_404(name)
        return Response(content="\n", media_type="application/json")

    def unauthenticated(authorization: str | None) -> JSONResponse | None:
        if config.predict_token and not bearer_matches(authorization, config.predict_token, config.admin_token):
            return JSONResponse(
                {"error_code": "UNAUTHENTICATED", "message": "a prediction token is required", "expected": "Authorization: Bearer <CT_SERVING_TOKEN>",
                 "found": "a wrong token" if authorization else "no Authorization header"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    @app.get("/metrics")
    async def metrics():
        return Response(generate_latest(telemetry.scrape_registry()), media_type=CONTENT_TYPE_LATEST)

    @app.post("/models/{name}/invocations")
    async def invoke(name: str, request: Request, authorization: str | None = Header(default=None)):
        started = time.perf_counter()
        refused = unauthenticated(authorization)
        if refused is not None:
            telemetry.requests.labels(model=name, status="401").inc()
            telemetry.errors.labels(model=name, kind="unauthenticated").inc()
            return refused
        served = served_or_404(name)
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        headers = {"X-Model-Name": served.name, "X-Model-Version": served.version, "X-Request-Id": request_id}
        try:
            body = await read_bounded_body(request, config.max_body_bytes, config.body_timeout_s)
            status, payload, media_type, rows, predictions = await asyncio.to_thread(score_rows, served, validator_for(served), body, request.headers.get("content-type", "application/json"))
        except BadScoringRequest as bad:
            log.info("refused a request to %s: %s %s", name, bad.status, bad.message)
            if bad.status in (408, 413):
                headers["Connection"] = "close"  # the rest of the body is never read
            telemetry.requests.labels(model=name, status=str(bad.status)).inc()
            telemetry.errors.labels(model=name, kind=bad.to_json().get("error_code", str(bad.status))).inc()
            return JSONResponse(bad.to_json(), status_code=bad.status, headers=headers)
        telemetry.latency.labels(model=name).observe(time.perf_counter() - started)
        telemetry.requests.labels(model=name, status=str(status)).inc()
        if predictions is not None:
            telemetry.predicted(served.name, served.version, predictions)
            if prediction_log is not None:
                prediction_log.record(served.name, served.version, request_id, rows, predictions)
        return Response(payload, status_code=status, media_type=media_type, headers=headers)

    @app.post("/models/{name}/outcomes")
    async def outcomes(name: str, request: OutcomesRequest, authorization: str | None = Header(default=None)):
        refused = unauthenticated(authorization)
        if refused is not None:
            return refused
        if outcomes_dir is None:
            raise HTTPException(503, "outcomes are not recorded by this server (no outcomes folder configured)")
        from include.monitoring.prediction_log import record_outcomes

        try:
            written = await asyncio.to_thread(record_outcomes, outcomes_dir, name, request.outcomes)
        except ValueError as bad:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": str(bad)}, status_code=422)
        return {"model": name, "recorded": written}

    @app.post("/admin/models/{name}/deploy")
    async def deploy(name: str, request: DeployRequest, authorization: str | None = Header(default=None)):
        if not config.admin_token:
            raise HTTPException(503, "admin actions are disabled: start the server with CT_SERVING_ADMIN_TOKEN set")
        if not bearer_matches(authorization, config.admin_token):
            raise HTTPException(401, "admin token required: send 'Authorization: Bearer <CT_SERVING_ADMIN_TOKEN>'", headers={"WWW-Authenticate": "Bearer"})
        try:
            served = await asyncio.to_thread(store.deploy, name, request.version)
        except Exception as exc:  # noqa: BLE001 - any load failure is the caller's answer (422 with the reason)
            return JSONResponse({"error": f"cannot load {name} version {request.version}: {type(exc).__name__}: {exc}"}, status_code=422)
        telemetry.served(served.name, served.version, served.run_id)
        if watcher is not None:
            await asyncio.to_thread(watcher.publish)  # may wait for the watcher's own publish: not on the event loop
            try:
                workers = await wait_until_served(watcher.status.folder, name, served.version, config.worker_sync_timeout_s)
            except WorkersLag as lag:
                return JSONResponse({"error": str(lag), "model": name, "version": served.version}, status_code=504 if lag.timed_out else 502)
            return {**served.describe(), "workers": len(workers)}
        return served.describe()

    return app


def score(served: ServedModel, rows: SignatureRows | None, body: bytes, content_type: str) -> tuple[int, str, str]:
    """Parse, validate and predict (in a worker thread); raises BadScoringRequest for a bad request."""
    return score_rows(served, rows, body, content_type)[:3]


def score_rows(served: ServedModel, rows: SignatureRows | None, body: bytes, content_type: str) -> tuple[int, str, str, list | None, list | None]:
    """``score`` plus the validated rows and the predictions as lists, for the prediction log
    (both None when the signature is one that MLflow parses itself)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations, predictions_to_json

    mime_type = content_type.split(";")[0].strip().lower()
    if rows is None:  # a signature we cannot check column by column: MLflow's own parsing and enforcement
        try:
            result = invocations(body, content_type, served.model, served.model.metadata.get_input_schema())
        except MlflowException as exc:
            raise BadScoringRequest(400, exc.message[:2000], "input matching the model's signature", "see message") from None
        return result.status, result.response, result.mimetype, None, None
    if mime_type == "application/json":
        records = rows.parse_json(body)
    elif mime_type == "text/csv":
        records = rows.parse_csv(body)
    else:
        raise BadScoringRequest(415, "unsupported content type", "Content-Type: application/json or text/csv", repr(content_type))
    try:
        predictions = served.scorer.predict(to_frame(records, rows.columns))
    except Exception as exc:  # the rows passed the signature; say what the model refused, not a stack trace
        log.warning("%s version %s could not score %d valid rows", served.name, served.version, len(records), exc_info=True)
        message = getattr(exc, "message", str(exc))
        raise BadScoringRequest(422, f"the model could not score these rows: {type(exc).__name__}: {message[:500]}", rows.expected(), f"{len(records)} rows") from None
    out = io.StringIO()
    predictions_to_json(predictions, out)
    return 200, out.getvalue(), "application/json", records, _as_list(predictions)


def _as_list(predictions) -> list:
    import numpy as np

    if hasattr(predictions, "to_numpy"):
        predictions = predictions.to_numpy()
    values = np.asarray(predictions)
    if values.ndim > 1:
        values = values[:, 0] if values.shape[1] == 1 else values.tolist()
    return list(values.tolist()) if hasattr(values, "tolist") else list(values)


def baked_model_loader(model_dir: str, run_id: str | None):
    """Load the one model baked into a serving image (deploy target ``docker``): no registry needed."""

    def load(name: str, version: str) -> ServedModel:
        from include.registry import load_pyfunc

        return ServedModel(name, str(version), run_id, load_pyfunc(model_dir))

    return load


def build_app_from_env():
    """The app as ``make run`` and the tests start it (``uvicorn --factory``).

    With ``CT_SERVING_MODEL_DIR`` set (a per-version image), it serves that one model as
    ``CT_SERVING_MODEL_NAME`` version ``CT_SERVING_MODEL_VERSION`` and fails at start if it cannot
    load it, so that the container never turns healthy with nothing to serve.
    """
    import tempfile
    from pathlib import Path

    model_dir = os.environ.get("CT_SERVING_MODEL_DIR")
    if model_dir:
        loader = baked_model_loader(model_dir, os.environ.get("CT_SERVING_RUN_ID") or None)
        store = ModelStore(loader, Path(tempfile.mkdtemp(prefix="ct-serving-")) / "deployed.json")
        store.deploy(os.environ["CT_SERVING_MODEL_NAME"], os.environ["CT_SERVING_MODEL_VERSION"])
        return create_app(store, ServingConfig.from_env())

    from include.monitoring.prediction_log import PredictionLog
    from include.serving.workers import WORKER_DIR_ENV, WorkerStatus
    from include.settings import Settings

    settings = Settings.from_env()
    store = ModelStore(registry_loader(settings.mlflow_tracking_uri), settings.serving_dir / "deployed.json")
    store.restore()
    if not store.all():
        # Nothing to restore: import what loading a model needs now (about 5 s), so the first deploy,
        # which a pipeline run waits for, does not pay for it.
        import mlflow.pyfunc
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401
    config = ServingConfig.from_env()
    telemetry = ServingTelemetry(drift_dir=settings.monitoring_dir / "latest")
    predictions = None
    if config.prediction_log:
        predictions = PredictionLog(
            settings.predictions_dir,
            on_write=lambda model, n: telemetry.log_written.labels(model=model).inc(n),
            on_drop=lambda model, n: telemetry.log_dropped.labels(model=model).inc(n),
        )
    worker_dir = os.environ.get(WORKER_DIR_ENV)
    watcher = DeployedFileWatcher(store, WorkerStatus(Path(worker_dir))) if worker_dir else None
    return create_app(store, config, telemetry, predictions, settings.outcomes_dir, watcher)
