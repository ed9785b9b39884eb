"""The serving router of the ``docker`` deploy target: one stable port in front of per-version containers.

With ``--network host`` and no registry there is no Docker network or load balancer to move
traffic between containers, so a small reverse proxy owns the stable port and forwards
``/models/{name}/...`` to the container that serves ``name`` now. A deploy starts the new
container on a fresh port, checks it directly, then repoints the route here (one dict update,
so every request after it goes to the new container); requests already forwarded finish on the
old one, and the deploy waits for them (``GET /admin/routes`` counts them) before stopping it.
Clients keep their connections to the router, so nothing they hold breaks at the switch.

``python -m include.serving.router --port 5002 [--host 127.0.0.1] [--state routes.json]``;
``PUT /admin/routes/{name}`` with ``{"upstream": "http://127.0.0.1:PORT"}`` needs
``Authorization: Bearer <CT_SERVING_ADMIN_TOKEN>`` when that is set.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
import argparse
import json
import logging
import os
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

# Connection-level headers are the proxy's own business on each side (RFC 9110, 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


def create_router(state_file: Path | None = None, admin_token: str | None = None):
    import httpx
    from fastapi import FastAPI, Header, HTTPException, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel

    class Route(BaseModel):
        upstream: str

    routes: dict[str, str] = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
    in_flight: Counter = Counter()
    app = FastAPI(title="CT serving router")
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    def require_admin(authorization: str | None) -> None:
        if admin_token and authorization != f"Bearer {admin_token}":
            raise HTTPException(401, "admin token required: send 'Authorization: Bearer <CT_SERVING_ADMIN_TOKEN>'")

    @app.get("/health")
    async def health():
        return {"status": "ok", "routes": routes}

    @app.get("/admin/routes")
    async def list_routes():
        return {"routes": routes, "in_flight": {u: n for u, n in in_flight.items() if n}}

    @app.put("/admin/routes/{name}")
    async def set_route(name: str, route: Route, authorization: str | None = Header(default=None)):
        require_admin(authorization)
        previous = routes.get(name)
        routes[name] = route.upstream.rstrip("/")
        if state_file is not None:
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(routes, indent=2))
            os.replace(tmp, state_file)
        log.info("route %s: %s -> %s", name, previous, routes[name])
        return {"model": name, "upstream": routes[name], "previous": previous}

    @app.api_route("/models/{name}{rest:path}", methods=["GET", "POST"])
    async def forward(name: str, rest: str, request: Request):
        upstream = routes.get(name)
        if upstream is None:
            return JSONResponse({"error": f"model {name!r} is not routed; routed models: {sorted(routes)}"}, status_code=404)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.body()
        in_flight[upstream] += 1
        try:
            answer = await client.request(request.method, f"{upstream}/models/{name}{rest}", params=request.query_params, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("upstream %s of %s failed: %s", upstream, name, exc)
            return JSONResponse({"error": f"the container serving {name!r} at {upstream} did not answer: {type(exc).__name__}"}, status_code=502)
        finally:
            in_flight[upstream] -= 1
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"}
        return Response(answer.content, status_code=answer.status_code, headers=out)

    @app.on_event("shutdown")
    async def close_client():
        await client.aclose()

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Route each model's requests to the container that serves it.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--state", type=Path, default=None, help="JSON file that keeps the routes across restarts")
    args = parser.parse_args()
    app = create_router(args.state, os.environ.get("CT_SERVING_ADMIN_TOKEN") or None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
