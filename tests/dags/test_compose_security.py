"""The production compose publishes no database or broker port (read with PyYAML, no Docker needed).

PostgreSQL and Redis hold every credential and all metadata; they are reached by the other
containers over the compose network only. Each rule is also run on a broken copy, so it can fail.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yaml"
# Images that hold data or credentials, and the ports such servers listen on.
DATA_IMAGES = re.compile(r"postgres|redis|mysql|mariadb|mongo|rabbitmq|memcached|valkey", re.IGNORECASE)
DATA_PORTS = {5432, 6379, 3306, 27017, 5672, 15672, 11211}


def container_port(entry) -> int | None:
    """The container side of a `ports` entry, short ('[ip:][host:]container[/proto]') or long syntax."""
    if isinstance(entry, dict):
        target = entry.get("target")
        return int(target) if target is not None else None
    text = str(entry).rsplit(":", 1)[-1].split("/")[0]
    first = text.split("-")[0]  # a range publishes its first port and more
    return int(first) if first.isdigit() else None


def database_exposure(compose: dict) -> list[str]:
    problems = []
    for name, service in (compose.get("services") or {}).items():
        image = str(service.get("image", ""))
        if service.get("network_mode") == "host":
            problems.append(f"{name}: network_mode: host puts every port of the container on the host")
        for entry in service.get("ports") or []:
            port = container_port(entry)
            if DATA_IMAGES.search(image) or DATA_IMAGES.search(name):
                problems.append(f"{name} ({image}) publishes {entry!r}: a database or broker must not be published")
            elif port in DATA_PORTS:
                problems.append(f"{name} publishes {entry!r}: container port {port} is a database or broker port")
    return problems


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_has_database_services_to_check(compose):
    """Guards the rule against passing vacuously on a renamed or emptied file."""
    data_services = [n for n, s in compose["services"].items() if DATA_IMAGES.search(str(s.get("image", "")))]
    assert {"postgres", "redis"} <= set(data_services), data_services


def test_no_database_or_broker_port_is_published(compose):
    assert database_exposure(compose) == []


@pytest.mark.parametrize(
    ("service", "change"),
    [
        ("postgres", {"ports": ["5432:5432"]}),
        ("postgres", {"ports": ["${CT_PUBLISH_ADDRESS:-127.0.0.1}:15432:5432"]}),
        ("redis", {"ports": [{"target": 6379, "published": 6379}]}),
        ("redis", {"network_mode": "host"}),
        ("mlflow", {"ports": ["127.0.0.1:5000:5000", "5432"]}),
    ],
    ids=["postgres short syntax", "postgres behind an address variable", "redis long syntax", "redis on the host network", "a data port on another service"],
)
def test_the_rule_catches_a_published_database(compose, service, change):
    broken = copy.deepcopy(compose)
    broken["services"][service].update(change)
    problems = database_exposure(broken)
    assert problems and all(service in p for p in problems), problems


def test_the_published_model_endpoint_can_require_a_token():
    """The model endpoint is published, so its prediction token must be settable from .env."""
    server = yaml.safe_load(COMPOSE.read_text())["services"]["model-server"]["environment"]
    assert server.get("CT_SERVING_TOKEN") == "${CT_SERVING_TOKEN:-}"
    assert str(server.get("CT_SERVING_ADMIN_TOKEN", "")).startswith("${CT_SERVING_ADMIN_TOKEN:?")
