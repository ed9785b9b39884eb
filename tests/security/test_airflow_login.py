"""The Airflow UI and REST API require a login in the embedded mode, against a real api-server.

The api-server starts on a free loopback port in a temporary AIRFLOW_HOME with the embedded
platform's own auth settings (scripts/embedded.py); about 20 s here.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
import requests

from include.settings import Settings
from tests.support.processes import ROOT, free_port, stop_session, wait_for_http

pytestmark = pytest.mark.services
AUTH_KEYS = ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")


def embedded_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ct_embedded", ROOT / "scripts" / "embedded.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def embedded_env(tmp_path):
    embedded = embedded_module()
    settings = Settings.from_env({"CT_HOME": str(tmp_path / "state")})
    env = embedded.environment(settings)
    password = embedded.admin_password(settings)
    return embedded, settings, env, password


def test_embedded_settings_require_a_login_and_keep_secrets_in_private_files(embedded_env):
    embedded, settings, env, password = embedded_env
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    token_file = embedded.secret_file(settings, "CT_SERVING_ADMIN_TOKEN")
    for private in (token_file, settings.home / "airflow" / "passwords.json"):
        assert private.stat().st_mode & 0o077 == 0, f"{private} is readable by others"
    env_sh = embedded.write_env_file(settings, env).read_text()
    assert env["CT_SERVING_ADMIN_TOKEN"] not in env_sh and password not in env_sh
    # The file still gives the airflow CLI the token, by reading it from its private file.
    printed = subprocess.run(["bash", "-c", f"source {settings.home / 'env.sh'} && printf %s \"$CT_SERVING_ADMIN_TOKEN\""], capture_output=True, text=True, check=True)
    assert printed.stdout == env["CT_SERVING_ADMIN_TOKEN"]


def test_the_api_server_refuses_anonymous_calls(embedded_env, tmp_path):
    _, settings, embedded_env_vars, password = embedded_env
    airflow_home = settings.home / "airflow"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        **{k: embedded_env_vars[k] for k in AUTH_KEYS},
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
    }
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    log = tmp_path / "api-server.log"
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_http(f"{url}/api/v2/monitor/health", 180, process, log)
        for path in ("/api/v2/dags", "/api/v2/connections", "/api/v2/config"):
            assert requests.get(f"{url}{path}", timeout=10).status_code == 401, path
        assert requests.get(f"{url}/api/v2/dags", headers={"Authorization": "Bearer forged"}, timeout=10).status_code in (401, 403)
        assert requests.post(f"{url}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=10).status_code == 401  # pragma: allowlist secret

        token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        assert token.status_code in (200, 201), token.text
        dags = requests.get(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=10)
        assert dags.status_code == 200, dags.text
    finally:
        stop_session(process)
    assert password not in log.read_text(errors="replace")  # the password file is used; nothing prints it
