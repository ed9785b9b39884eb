"""Structural rules for the production stack's files (docker-compose.yaml, Dockerfile, .env.example).

Each check returns the problems it finds (empty: fine), so that tests/dags/test_compose.py can run it
on the real files and on a broken copy, proving that every check can fail.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE, DOCKERFILE, ENV_EXAMPLE = ROOT / "docker-compose.yaml", ROOT / "Dockerfile", ROOT / ".env.example"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"

AIRFLOW = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}
REQUIRED_SERVICES = AIRFLOW | {"postgres", "redis", "mlflow", "model-server", "prometheus", "grafana"}
# The only ports the stack publishes: four UIs and the model endpoint.
PUBLISHED = {"airflow-apiserver": {8080}, "mlflow": {5000}, "prometheus": {9090}, "grafana": {3000}, "model-server": {5001}}
PLACEHOLDER = "CHANGE_ME"
# An environment variable that holds a credential (a *_FILE variable holds a path to one).
SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|FERNET_KEY|API_KEY|PRIVATE_KEY|(^|_)AUTH$")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:(?P<password>[^@\s]*)@")
SECRET_FLAG = re.compile(r"--(?:requirepass|password|passwd|token|secret)[= ]+(?P<value>\S+)")
REQUIRED_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}")  # ${VAR:?message}: no default, must be set
OPTIONAL_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-\}")  # ${VAR:-}: may be unset, never a value in the file
SHELL_VAR = re.compile(r'"?\$\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"?')  # $$VAR: read in the container, not here
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ${VAR:-default} -> default; any other interpolation -> "VAR" (what a port binds to when .env is silent).
WITH_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-(?P<default>[^}]*)|[^}]*)\}")


# --- reading ---------------------------------------------------------------------------------------


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def strings(node, path=()):
    """Every string in a YAML document with where it is, e.g. (('services', 'redis', 'command', 2), '...')."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, (*path, index))


def interpolations(text: str) -> list[tuple[str, str]]:
    """(name, operator + argument) of each ${VAR...} / $VAR compose interpolates; $$ escapes a $."""
    found, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
        elif text.startswith("${", i):
            depth, end = 1, i + 2
            while end < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            body = text[i + 2 : end - 1]
            name = VAR_NAME.match(body)
            found.append((name.group() if name else body, body[name.end() :] if name else ""))
            found += interpolations(body[name.end() :] if name else "")
            i = end
        elif text[i] == "$" and (name := VAR_NAME.match(text, i + 1)):
            found.append((name.group(), ""))
            i = name.end()
        else:
            i += 1
    return found


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict) -> dict[str, str | None]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: None for name in deps}
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


def one_shot(compose: dict) -> set[str]:
    """Services that others wait to *finish* (airflow-init): they have no healthcheck to pass."""
    return {
        dep for svc in compose["services"].values() for dep, cond in depends_on(svc).items() if cond == "service_completed_successfully"
    }


def published_ports(service: dict) -> list[tuple[str | None, str]]:
    """(bind address, host port) of each published port; short syntax '[ip:]host:container[/proto]'."""
    result = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result.append((entry.get("host_ip"), str(entry.get("published", "random"))))
            continue
        parts = WITH_DEFAULT.sub(lambda m: m["default"] if m["default"] is not None else "VAR", str(entry)).split("/")[0].split(":")
        result.append((parts[0] if len(parts) == 3 else None, parts[-2] if len(parts) >= 2 else "random"))
    return result


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), (line.split(None, 1) + [""])[1].strip()) for line in joined.splitlines() if line.strip()]


# --- checks ----------------------------------------------------------------------------------------


def missing_services(compose: dict) -> list[str]:
    return [f"service {name!r} is missing" for name in sorted(REQUIRED_SERVICES - set(compose["services"]))]


def healthcheck_problems(compose: dict) -> list[str]:
    problems, once = [], one_shot(compose)
    for name, svc in compose["services"].items():
        if name in once:
            if svc.get("restart") not in (None, "no", "on-failure"):
                problems.append(f"{name}: a one-shot service must not restart {svc['restart']!r}")
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        if not test or test in (["NONE"], "NONE") or svc["healthcheck"].get("disable"):
            problems.append(f"{name}: no healthcheck")
    return problems


def dependency_problems(compose: dict) -> list[str]:
    services, problems = compose["services"], []
    for name, svc in services.items():
        for dep, cond in depends_on(svc).items():
            if dep not in services:
                problems.append(f"{name} depends on {dep!r}, which is not a service")
            elif cond is None:
                problems.append(f"{name} depends on {dep!r} without a condition")
    state: dict[str, str] = {}

    def visit(name, trail):
        state[name] = "open"
        for dep in depends_on(services[name]):
            if state.get(dep) == "open":
                problems.append("dependency cycle: " + " -> ".join([*trail[trail.index(dep) :], dep]))
            elif dep in services and dep not in state:
                visit(dep, [*trail, dep])
        state[name] = "done"

    for name in services:
        if name not in state:
            visit(name, [name])
    return problems


def port_problems(compose: dict) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if svc.get("network_mode") == "host":
            problems.append(f"{name}: network_mode host publishes every port it opens")
        ports = published_ports(svc)
        host_ports = {int(p) if p.isdigit() else p for _, p in ports}
        if host_ports != PUBLISHED.get(name, set()):
            problems.append(f"{name}: publishes {sorted(map(str, host_ports))}, expected {sorted(map(str, PUBLISHED.get(name, set())))}")
        problems += [
            f"{name}: port {port} binds every interface by default (give a bind address)"
            for address, port in ports
            if address in (None, "", "0.0.0.0")
        ]
    return problems


def _is_required_var(value: str) -> bool:
    return bool(REQUIRED_VAR.fullmatch(value))


def _is_optional_var(value: str) -> bool:
    """``${VAR:-}``: a secret that may be left unset, with no value of its own in the file."""
    return bool(OPTIONAL_VAR.fullmatch(value))


def secret_problems(compose: dict) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        for key, value in {**environment(svc), **((svc.get("build") or {}).get("args") or {})}.items():
            if SECRET_KEY.search(key) and not key.endswith("_FILE") and not (_is_required_var(str(value)) or _is_optional_var(str(value))):
                problems.append(f"{name}: {key} must be a ${{VAR:?...}} (or an optional ${{VAR:-}}) from .env, found {value!r}")
    # A command given as a list is one command line: "--requirepass", "hunter2" are read together.
    commands = [
        ((n, "command"), " ".join(map(str, svc["command"])))
        for n, svc in compose["services"].items()
        if isinstance(svc.get("command"), list)
    ]
    for path, text in [*strings(compose), *commands]:
        where = "/".join(map(str, path))
        for match in URL_CREDENTIALS.finditer(text):
            if not _is_required_var(match["password"]):
                problems.append(f"{where}: URL password must be a ${{VAR:?...}} from .env, found {match['password']!r}")
        for match in SECRET_FLAG.finditer(text):
            if not (_is_required_var(match["value"]) or SHELL_VAR.fullmatch(match["value"])):
                problems.append(f"{where}: command-line secret must come from the environment, found {match['value']!r}")
        try:
            document = json.loads(text) if text.lstrip().startswith("{") else {}
        except json.JSONDecodeError:
            document = {}
        for key, value in document.items() if isinstance(document, dict) else ():
            if SECRET_KEY.search(key.upper()) and not _is_required_var(str(value)):
                problems.append(f"{where}: JSON {key!r} must be a ${{VAR:?...}} from .env")
    return problems


def env_example_problems(compose: dict, env_text: str) -> list[str]:
    used: dict[str, bool] = {}  # name -> required
    for _, text in strings(compose):
        for name, op in interpolations(text):
            used[name] = used.get(name, False) or op.lstrip(":").startswith("?")
    active = dict(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", env_text, re.MULTILINE))
    mentioned = set(active) | set(re.findall(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=", env_text, re.MULTILINE))
    problems = []
    for name, required in sorted(used.items()):
        if required and not active.get(name, "").strip():
            problems.append(f"{name} is required by docker-compose.yaml but has no value in .env.example")
        elif name not in mentioned:
            problems.append(f"{name} is used by docker-compose.yaml but not documented in .env.example")
    problems += [f".env.example sets {name}, which docker-compose.yaml does not use" for name in sorted(mentioned - set(used))]
    secrets = {n for _, t in strings(compose) for n, op in interpolations(t) if SECRET_KEY.search(n)}
    problems += [
        f".env.example: {n} must be the placeholder {PLACEHOLDER}, not a real secret"
        for n in sorted(secrets)
        if n in active and active[n] != PLACEHOLDER  # an optional secret may stay commented out
    ]
    return problems


def volume_problems(compose: dict) -> list[str]:
    declared, problems = set(compose.get("volumes") or {}), []
    for name, svc in compose["services"].items():
        for mount in svc.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                if not (ROOT / source).exists():
                    problems.append(f"{name}: bind-mount source {source} does not exist in the repository")
            elif source and source not in declared:
                problems.append(f"{name}: volume {source!r} is not declared under volumes:")
    for name in ("airflow-worker", "airflow-init"):
        svc, env = compose["services"].get(name, {}), environment(compose["services"].get(name, {}))
        targets = {m.split(":")[1] for m in svc.get("volumes") or [] if isinstance(m, str) and ":" in m}
        wanted = ["CT_HOME", "CT_DVC_REMOTE"] if name == "airflow-worker" else ["CT_HOME"]
        problems += [f"{name}: {var}={env.get(var)!r} is not a mounted volume" for var in wanted if env.get(var) not in targets]
    return problems


def stack_problems(compose: dict) -> list[str]:
    """The Airflow 3.3 wiring, the platform's commands, and the versions of PostgreSQL and Redis."""
    services, problems = compose["services"], []
    airflow_envs = {name: environment(services[name]) for name in AIRFLOW & set(services)}
    for key in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
    ):
        values = {env.get(key) for env in airflow_envs.values()}
        if len(values) != 1 or None in values:
            problems.append(f"{key} must be set, and the same, in every Airflow service")
    for name, env in sorted(airflow_envs.items()):
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            problems.append(f"{name}: executor is {env.get('AIRFLOW__CORE__EXECUTOR')!r}, expected CeleryExecutor")
        if env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") != "http://airflow-apiserver:8080/execution/":
            problems.append(f"{name}: AIRFLOW__CORE__EXECUTION_API_SERVER_URL must point at the airflow-apiserver service")
        if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False").lower() != "false":
            problems.append(f"{name}: simple_auth_manager_all_admins turns the UI login off")

    def command(name):
        return " ".join(map(str, services.get(name, {}).get("command") or []))

    expectations = {
        "airflow-init": ["airflow db migrate", "python -m include.demo_data"],
        "model-server": ["python -m include.serving --host 0.0.0.0 --port 5001"],
        "mlflow": ["mlflow server", "--serve-artifacts"],
    }
    problems += [f"{name}: command lacks {part!r}" for name, parts in expectations.items() for part in parts if part not in command(name)]
    if not environment(services.get("mlflow", {})).get("MLFLOW_BACKEND_STORE_URI", "").startswith("postgresql"):
        problems.append("mlflow: MLFLOW_BACKEND_STORE_URI must be a PostgreSQL database")
    for name, image, wanted in (("postgres", r"postgres:16\b", "PostgreSQL 16"), ("redis", r"redis:7\b", "Redis 7")):
        if not re.search(image, str(services.get(name, {}).get("image", ""))):
            problems.append(f"{name}: image {services.get(name, {}).get('image')!r} is not {wanted}")
    return problems


def prometheus_problems(compose: dict, config: dict) -> list[str]:
    targets = {t for job in config.get("scrape_configs", []) for sc in job.get("static_configs", []) for t in sc.get("targets", [])}
    if "model-server:5001" in targets and "model-server" in compose["services"]:
        return []
    return ["prometheus.yml does not scrape model-server:5001"]


def dockerfile_problems(text: str) -> list[str]:
    instructions, problems = dockerfile_instructions(text), []
    first_from = next((i for i, (kind, _) in enumerate(instructions) if kind == "FROM"), 0)
    before_from = [arg for kind, arg in instructions[:first_from] if kind == "ARG"]
    if not any(re.fullmatch(r"BASE_IMAGE=\S+", arg) for arg in before_from):
        problems.append("BASE_IMAGE must be an ARG with a default, declared before the first FROM")
    stages: set[str] = set()
    for kind, arg in instructions:
        if kind == "FROM":
            image = arg.split()[0]
            if image not in stages and image not in ("${BASE_IMAGE}", "$BASE_IMAGE"):
                problems.append(f"FROM {image}: every stage must start from the BASE_IMAGE build argument")
            stages |= {arg.split()[-1]} if " AS " in arg.upper() else set()
    users = [arg for kind, arg in instructions if kind == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image must run as a non-root USER")
    env = " ".join(arg for kind, arg in instructions if kind == "ENV")
    for setting in (
        "PYTHONPATH=/opt/ct:/opt/ct/plugins",
        "AIRFLOW__CORE__DAGS_FOLDER=/opt/ct/dags",
        "AIRFLOW__CORE__PLUGINS_FOLDER=/opt/ct/plugins",
        "CT_GIT_COMMIT=",
    ):
        if setting not in env:
            problems.append(f"ENV lacks {setting}")
    if not any(k == "ARG" and a.startswith("CT_GIT_COMMIT") for k, a in instructions):
        problems.append("CT_GIT_COMMIT must be a build ARG")
    if not any(k == "RUN" and "-r /tmp/ct-build/requirements.txt" in a and "-c /tmp/ct-build/constraints" in a for k, a in instructions):
        problems.append("requirements.txt must be installed with the constraints file")
    return problems


def gitignore_problems(text: str) -> list[str]:
    def ignored(path):
        verdict = False
        for line in (raw.strip() for raw in text.splitlines()):
            if line and not line.startswith("#") and fnmatch.fnmatch(path, line.lstrip("!").lstrip("/")):
                verdict = not line.startswith("!")
        return verdict

    problems = [] if ignored(".env") else [".gitignore does not ignore .env"]
    return problems + ([".gitignore ignores .env.example, which must be committed"] if ignored(".env.example") else [])
