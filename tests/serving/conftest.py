"""One real model server for the serving tests: a tiny registered model, small limits, tokens.

The model is trained once per session; the server starts once per session on a free
loopback port with its own log, which the tests read for 5xx answers and leaked tokens.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import model_server
from tests.support.served_model import register_seattle_model

# Small limits so that the tests cross them with small requests.
LIMITS = {
    "CT_SERVING_MAX_ROWS": "50",
    "CT_SERVING_MAX_BODY_BYTES": "20000",
    "CT_SERVING_BODY_TIMEOUT_S": "2",
    "CT_SERVING_HEADER_TIMEOUT_S": "2",
}
SERVER_ERROR = re.compile(r'HTTP/1\.[01]" 5\d\d')
GOOD_ROW = [8.3, 3.8, 4.7, "fog"]
COLUMNS = ["temp_min", "precipitation", "wind", "weather"]


@dataclass
class Server:
    url: str
    log: Path
    model: str
    admin_token: str
    predict_token: str

    @property
    def invocations(self) -> str:
        return f"{self.url}/models/{self.model}/invocations"

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.predict_token}"}

    def good_payload(self, rows: int = 1) -> dict:
        return {"dataframe_split": {"columns": COLUMNS, "data": [GOOD_ROW] * rows}}

    def server_errors(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if SERVER_ERROR.search(line)] + (["a Traceback"] if "Traceback" in text else [])


@pytest.fixture(scope="session")
def registered_home(tmp_path_factory) -> tuple[Path, str, str]:
    home = tmp_path_factory.mktemp("serving-home")
    name, version = register_seattle_model(home)
    return home, name, version


@pytest.fixture(scope="session")
def server(registered_home, tmp_path_factory):
    home, name, version = registered_home
    admin, predict = secrets.token_hex(16), secrets.token_hex(16)
    env = {"CT_HOME": str(home), "CT_SERVING_ADMIN_TOKEN": admin, "CT_SERVING_TOKEN": predict, **LIMITS}
    log = tmp_path_factory.mktemp("serving-log") / "model-server.log"
    with model_server(env, log) as url:
        deployed = requests.post(f"{url}/admin/models/{name}/deploy", json={"version": version}, headers={"Authorization": f"Bearer {admin}"}, timeout=120)
        assert deployed.status_code == 200, deployed.text
        yield Server(url, log, name, admin, predict)
