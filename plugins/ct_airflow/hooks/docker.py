"""The Docker engine (deploy target ``docker``), through the ``docker`` SDK.

Connection ``docker_default``: ``host`` is the engine's address (``unix:///var/run/docker.sock`` or
``tcp://host:2375``); extras ``base_image``, ``wheelhouse``, ``router_port``, ``bind_host``.
Without a connection the environment decides: ``DOCKER_HOST`` (as for the docker CLI),
``CT_DOCKER_BASE_IMAGE``, ``CT_DOCKER_WHEELHOUSE``, ``CT_DOCKER_ROUTER_PORT``, ``CT_DOCKER_BIND_HOST``;
the admin token of the router and containers is ``CT_SERVING_ADMIN_TOKEN`` (or the password).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from ct_airflow.hooks.base import OptionalConnectionHook


class DockerEngineHook(OptionalConnectionHook):
    default_conn_name = "docker_default"
    conn_type = "docker_engine"
    hook_name = "Docker engine"

    @cached_property
    def _conn(self):
        return self.connection_or_none()

    def _option(self, extra_key: str, env_key: str, default=None):
        conn = self._conn
        if conn is not None and conn.extra_dejson.get(extra_key) not in (None, ""):
            return conn.extra_dejson[extra_key]
        return os.environ.get(env_key) or default

    @cached_property
    def base_url(self) -> str | None:
        conn = self._conn
        if conn is not None and conn.host:
            host = conn.host
            return host if "://" in host else f"tcp://{host}:{conn.port or 2375}"
        return os.environ.get("DOCKER_HOST") or None  # None: the SDK's default socket

    def get_conn(self):
        """A ``docker.DockerClient`` speaking the engine's API version (negotiated, not assumed)."""
        import docker

        if self.base_url:
            return docker.DockerClient(base_url=self.base_url, version="auto", timeout=300)
        return docker.from_env(version="auto", timeout=300)

    def settings(self, keep_images: int = 3, health_timeout_s: float = 120.0):
        from include.docker_deploy.images import ImageSettings
        from include.docker_deploy.target import DockerSettings

        wheelhouse = self._option("wheelhouse", "CT_DOCKER_WHEELHOUSE")
        token = (self._conn.password if self._conn is not None else None) or os.environ.get("CT_SERVING_ADMIN_TOKEN") or None
        return DockerSettings(
            images=ImageSettings(base_image=self._option("base_image", "CT_DOCKER_BASE_IMAGE", ImageSettings.base_image), wheelhouse=Path(wheelhouse) if wheelhouse else None),
            router_port=int(self._option("router_port", "CT_DOCKER_ROUTER_PORT", 5002)),
            bind_host=self._option("bind_host", "CT_DOCKER_BIND_HOST", "127.0.0.1"),
            admin_token=token,
            keep_images=keep_images,
            health_timeout_s=health_timeout_s,
        )

    def target(self, registry, keep_images: int = 3, health_timeout_s: float = 120.0):
        from include.docker_deploy.target import DockerTarget

        return DockerTarget(self.get_conn(), registry, self.settings(keep_images, health_timeout_s))
