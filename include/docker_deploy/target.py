"""Deploy target ``docker``: a container per model version behind the serving router.

Sequence (README, "Deploy target docker"): image ``<model>:<version>`` (built once), a new
container on a free port with ``--network host``, its Docker health check and a smoke prediction
sent to it directly, then the router's route for the model is repointed, requests still running
on the old container are waited for, and the old container is stopped. If the new container is
not healthy or fails the smoke test, it is removed, the route is never touched (the previous
container keeps serving) and ``DeployError`` carries the container's last log lines.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from include.deploy import DeployResult, LocalServerTarget
from include.docker_deploy import images
from include.docker_deploy.images import LABEL, ImageSettings
from include.errors import DeployError

ROUTER_NAME = "ct-serving-router"


@dataclass(frozen=True)
class DockerSettings:
    images: ImageSettings = field(default_factory=ImageSettings)
    router_port: int = 5002  # the stable port clients use
    bind_host: str = "127.0.0.1"  # where containers listen (host network): loopback unless told otherwise
    admin_token: str | None = None
    keep_images: int = 3
    health_timeout_s: float = 120.0
    stop_timeout_s: int = 30  # SIGTERM, then SIGKILL: uvicorn finishes running requests in between


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll ``check()`` until it returns something truthy; DeployError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DeployError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def last_log_lines(container, lines: int = 30) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except Exception as exc:  # noqa: BLE001 - the container may already be gone; logs are a courtesy
        return f"(no logs: {exc})"


class DockerTarget:
    """``client`` is a ``docker.DockerClient``; ``registry`` an ``include.registry.Registry``."""

    def __init__(self, client, registry, settings: DockerSettings = DockerSettings()):
        self.client = client
        self.registry = registry
        self.settings = settings
        self.router_url = f"http://127.0.0.1:{settings.router_port}"

    def endpoint(self, model: str) -> str:
        return f"{self.router_url}/models/{model}/invocations"

    # --- what runs now --------------------------------------------------------------------------
    def containers(self, model: str, all_: bool = False) -> list:
        return self.client.containers.list(all=all_, filters={"label": [f"{LABEL}.role=model", f"{LABEL}.model={model}"]})

    def routes(self) -> dict:
        response = requests.get(f"{self.router_url}/admin/routes", timeout=10)
        response.raise_for_status()
        return response.json()

    def serving_container(self, model: str):
        """The running container the router sends ``model`` to, or None."""
        upstream = self.routes()["routes"].get(model)
        for container in self.containers(model):
            if upstream and upstream.endswith(f":{container.labels.get(f'{LABEL}.port')}"):
                return container
        return None

    def ensure_router(self, runtime: str) -> None:
        """Start the router once (on the stable port); it outlives deploys and keeps its routes."""
        import docker.errors

        try:
            router = self.client.containers.get(ROUTER_NAME)
            if router.status != "running":
                router.start()
        except docker.errors.NotFound:
            env = {"CT_SERVING_ADMIN_TOKEN": self.settings.admin_token} if self.settings.admin_token else {}
            self.client.containers.run(
                runtime, ["python", "-m", "include.serving.router", "--host", self.settings.bind_host, "--port", str(self.settings.router_port)],
                name=ROUTER_NAME, detach=True, network_mode="host", environment=env, labels={f"{LABEL}.role": "router"},
                restart_policy={"Name": "unless-stopped"},
            )

        def answers():
            try:
                return requests.get(f"{self.router_url}/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, 60, f"the serving router on {self.router_url}")

    # --- the deploy -----------------------------------------------------------------------------
    def deploy(self, model: str, version: str, smoke_input: dict) -> DeployResult:
        started = time.monotonic()
        version = str(version)
        runtime = images.ensure_runtime_image(self.client, self.settings.images)
        self.ensure_router(runtime)
        old = self.serving_container(model)
        previous = old.labels.get(f"{LABEL}.version") if old else None
        if previous == version:
            LocalServerTarget(self.router_url, self.settings.admin_token).check(model, version, smoke_input)
            return DeployResult(model, version, self.endpoint(model), "already serving", previous, time.monotonic() - started)

        ref = self.registry.version(model, version)
        tag, _ = images.ensure_model_image(self.client, runtime, model, version, ref.tags | {"run_id": ref.run_id}, lambda dest: self._export(ref, dest))
        new = self._start(tag, model, version)
        port = new.labels[f"{LABEL}.port"]
        direct = f"http://127.0.0.1:{port}"
        try:
            self._wait_healthy(new, model, version)
            LocalServerTarget(direct, self.settings.admin_token).check(model, version, smoke_input)
        except (DeployError, requests.RequestException) as exc:
            logs = last_log_lines(new)
            new.remove(force=True)
            kept = f"version {previous} keeps serving" if previous else "nothing was serving before (first deploy)"
            raise DeployError(f"deploying {model} version {version} as container {new.name} failed ({exc}); it was removed and {kept}.\n"
                              f"--- last log lines of {new.name} ---\n{logs}") from exc

        self._switch(model, direct)
        if old is not None:
            self._retire(old, f"http://127.0.0.1:{old.labels.get(f'{LABEL}.port')}")
        protect = {version} | ({previous} if previous else set())
        images.prune_model_images(self.client, model, self.settings.keep_images, protect)
        return DeployResult(model, version, self.endpoint(model), "deployed", previous, time.monotonic() - started)

    def _export(self, ref, dest: Path) -> None:
        import mlflow.artifacts

        self.registry.activate()  # a models:/ URI is resolved through the registry
        mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(dest))

    def _start(self, tag: str, model: str, version: str):
        port = free_port(self.settings.bind_host)
        env = {"CT_SERVING_PORT": str(port), "CT_SERVING_BIND": self.settings.bind_host}
        if self.settings.admin_token:
            env["CT_SERVING_ADMIN_TOKEN"] = self.settings.admin_token
        labels = {f"{LABEL}.role": "model", f"{LABEL}.model": model, f"{LABEL}.version": version, f"{LABEL}.port": str(port)}
        return self.client.containers.run(tag, name=f"ct-{model}-v{version}-{port}", detach=True, network_mode="host", environment=env, labels=labels)

    def _wait_healthy(self, container, model: str, version: str) -> None:
        def state():
            container.reload()
            status = container.attrs["State"]
            if status["Status"] in ("exited", "dead"):
                raise DeployError(f"container {container.name} exited with code {status.get('ExitCode')} before it was healthy")
            health = status.get("Health", {}).get("Status")
            if health == "unhealthy":
                raise DeployError(f"container {container.name} is unhealthy (its health check failed)")
            return health == "healthy"

        wait_until(state, self.settings.health_timeout_s, f"container {container.name} ({model} version {version}) to become healthy")

    def _switch(self, model: str, upstream: str) -> None:
        headers = {"Authorization": f"Bearer {self.settings.admin_token}"} if self.settings.admin_token else {}
        response = requests.put(f"{self.router_url}/admin/routes/{model}", json={"upstream": upstream}, headers=headers, timeout=10)
        if response.status_code != 200:
            raise DeployError(f"the serving router refused to route {model} to {upstream}: HTTP {response.status_code} {response.text[:300]}")

    def _retire(self, container, upstream: str) -> None:
        """Wait for the requests the router already sent to the old container, then stop and remove it."""
        wait_until(lambda: not self.routes()["in_flight"].get(upstream), 60, f"requests in flight on {container.name} to finish", interval_s=0.05)
        container.stop(timeout=self.settings.stop_timeout_s)
        container.remove()
