"""The production stack's files, checked for structure without Docker (no engine on these machines).

The rules live in tests/support/compose_rules.py; here they run on the real files and on broken
copies, proving that every check can fail. Running the stack is a later, real-services tier.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.support.compose_rules import (
    DOCKERFILE,
    ENV_EXAMPLE,
    PROMETHEUS_CONFIG,
    ROOT,
    dependency_problems,
    dockerfile_problems,
    env_example_problems,
    gitignore_problems,
    healthcheck_problems,
    interpolations,
    load_compose,
    missing_services,
    port_problems,
    prometheus_problems,
    secret_problems,
    stack_problems,
    volume_problems,
)

# --- tests: the real files pass ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.mark.parametrize(
    "check", [missing_services, healthcheck_problems, dependency_problems, port_problems, secret_problems, volume_problems, stack_problems]
)
def test_compose_file(compose, check):
    assert check(compose) == []


def test_every_variable_comes_from_env_example(compose):
    assert env_example_problems(compose, ENV_EXAMPLE.read_text()) == []


def test_prometheus_scrapes_the_model_server(compose):
    assert prometheus_problems(compose, yaml.safe_load(PROMETHEUS_CONFIG.read_text())) == []


def test_dockerfile():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def test_env_file_is_git_ignored():
    assert gitignore_problems((ROOT / ".gitignore").read_text()) == []


# --- tests: every check fails on a broken copy -------------------------------------------------------


def _set(path, value):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop(path):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


S = "services"
BROKEN = {
    "service missing": (missing_services, _drop((S, "prometheus"))),
    "no healthcheck": (healthcheck_problems, _drop((S, "mlflow", "healthcheck"))),
    "healthcheck disabled": (healthcheck_problems, _set((S, "redis", "healthcheck"), {"test": ["NONE"]})),
    "one-shot restarts": (healthcheck_problems, _set((S, "airflow-init", "restart"), "always")),
    "unknown dependency": (dependency_problems, _set((S, "mlflow", "depends_on", "nosuch"), {"condition": "service_started"})),
    "dependency without condition": (dependency_problems, _set((S, "prometheus", "depends_on"), ["model-server"])),
    "dependency cycle": (dependency_problems, _set((S, "postgres", "depends_on"), {"airflow-worker": {"condition": "service_started"}})),
    "postgres published": (port_problems, _set((S, "postgres", "ports"), ["127.0.0.1:5432:5432"])),
    "redis published": (port_problems, _set((S, "redis", "ports"), [{"target": 6379, "published": 6379, "host_ip": "127.0.0.1"}])),
    "extra port": (port_problems, _set((S, "mlflow", "ports"), ["127.0.0.1:5000:5000", "127.0.0.1:5555:5555"])),
    "all interfaces": (port_problems, _set((S, "prometheus", "ports"), ["9090:9090"])),
    "all interfaces by default": (port_problems, _set((S, "mlflow", "ports"), ["${CT_PUBLISH_ADDRESS:-0.0.0.0}:5000:5000"])),
    "host network": (port_problems, _set((S, "model-server", "network_mode"), "host")),
    "literal password": (secret_problems, _set((S, "postgres", "environment", "POSTGRES_PASSWORD"), "airflow")),
    "secret with a default": (secret_problems, _set((S, "airflow-worker", "environment", "CT_SERVING_ADMIN_TOKEN"), "${TOKEN:-t0ken}")),
    "password in a URL": (secret_problems, _set((S, "mlflow", "environment", "MLFLOW_BACKEND_STORE_URI"), "postgresql://u:pw@db/ml")),
    "password on a command line": (secret_problems, _set((S, "redis", "command"), ["redis-server", "--requirepass", "hunter2"])),
    "password in a JSON connection": (secret_problems, _set((S, "airflow-worker", "environment", "AIRFLOW_CONN_X"), '{"password": "pw"}')),
    "variable not in .env.example": (
        lambda c: env_example_problems(c, ENV_EXAMPLE.read_text()),
        _set((S, "mlflow", "environment", "X"), "${NOT_IN_ENV_EXAMPLE:-1}"),
    ),
    "undeclared volume": (volume_problems, _set((S, "mlflow", "volumes"), ["nosuch:/data"])),
    "missing bind source": (volume_problems, _set((S, "prometheus", "volumes"), ["./deploy/nosuch.yml:/etc/prometheus/prometheus.yml:ro"])),
    "CT_HOME not mounted": (volume_problems, _set((S, "airflow-worker", "volumes"), ["airflow-logs:/opt/airflow/logs"])),
    "other executor": (stack_problems, _set((S, "airflow-scheduler", "environment", "AIRFLOW__CORE__EXECUTOR"), "LocalExecutor")),
    "JWT secret differs": (stack_problems, _set((S, "airflow-worker", "environment", "AIRFLOW__API_AUTH__JWT_SECRET"), "${OTHER_JWT:?x}")),
    "no login": (stack_problems, _set((S, "airflow-apiserver", "environment", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"), "True")),
    "init does not seed": (stack_problems, _set((S, "airflow-init", "command"), ["airflow", "db", "migrate"])),
    "postgres 15": (stack_problems, _set((S, "postgres", "image"), "postgres:15")),
    "no model-server scrape": (lambda c: prometheus_problems(c, {"scrape_configs": []}), lambda doc: None),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_fails_on_a_broken_compose_file(compose, case):
    check, mutate = BROKEN[case]
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert check(broken), f"{check.__name__} found nothing wrong with: {case}"


@pytest.mark.parametrize(
    "old, new",
    [
        ("ARG BASE_IMAGE=python:3.11-slim-bookworm\n", ""),
        ("FROM ${BASE_IMAGE}\n", "FROM python:3.12\n"),
        ("USER ct\n", "USER root\n"),
        ("PYTHONPATH=/opt/ct:/opt/ct/plugins", "PYTHONPATH=/opt/ct"),
        ("ARG CT_GIT_COMMIT=unknown\n", ""),
        ("-c /tmp/ct-build/constraints-image.txt", ""),
    ],
)
def test_dockerfile_check_fails(old, new):
    text = DOCKERFILE.read_text()
    assert old in text, f"the Dockerfile changed: update this test ({old!r} is gone)"
    assert dockerfile_problems(text.replace(old, new))


def test_env_example_check_fails():
    compose, text = load_compose(), ENV_EXAMPLE.read_text()
    assert env_example_problems(compose, text.replace("REDIS_PASSWORD=CHANGE_ME", "# REDIS_PASSWORD=CHANGE_ME"))
    assert env_example_problems(compose, text.replace("REDIS_PASSWORD=CHANGE_ME", "REDIS_PASSWORD=0123abcd"))
    assert env_example_problems(compose, text + "\nUNUSED_SETTING=1\n")


def test_gitignore_check():
    assert gitignore_problems("/.env\n") == []
    assert gitignore_problems("__pycache__/\n")
    assert gitignore_problems(".env*\n")  # would hide .env.example too
    assert gitignore_problems(".env*\n!.env.example\n") == []


def test_interpolation_scanner():
    assert interpolations("a ${X:?m} $$Y $${Z} $W ${V:-${U}}") == [("X", ":?m"), ("W", ""), ("V", ":-${U}"), ("U", "")]
