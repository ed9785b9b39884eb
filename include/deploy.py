"""Deploy targets: make a serving endpoint answer with a given model version, or roll back.

``local``: the platform's own model server (``include/serving``), told over HTTP
which version to load. The sequence is the same for every target: deploy,
check health, check the served version, run a smoke prediction; if any of these
fails, put the previous version back and raise ``DeployError``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass

import requests

from include.errors import DeployError


@dataclass(frozen=True)
class DeployResult:
    model: str
    version: str
    endpoint: str
    action: str  # "deployed" or "already serving"
    previous_version: str | None
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


class LocalServerTarget:
    def __init__(self, base_url: str, admin_token: str | None = None, timeout_s: float = 60):
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.timeout_s = timeout_s

    def endpoint(self, model: str) -> str:
        return f"{self.base_url}/models/{model}/invocations"

    def served_version(self, model: str) -> str | None:
        try:
            response = requests.get(f"{self.base_url}/models/{model}", timeout=10)
        except requests.RequestException as exc:
            raise DeployError(f"model server at {self.base_url} is unreachable: {exc}") from exc
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return str(response.json()["version"])

    @property
    def _auth(self) -> dict:
        # The admin token also authorises predictions (when the server requires a token for them).
        return {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}

    def _load(self, model: str, version: str) -> None:
        response = requests.post(f"{self.base_url}/admin/models/{model}/deploy", json={"version": str(version)}, headers=self._auth, timeout=self.timeout_s)
        if response.status_code != 200:
            raise DeployError(f"model server refused to load {model} version {version}: HTTP {response.status_code} {response.text[:500]}")

    def check(self, model: str, version: str, smoke_input: dict) -> None:
        """Health, served version and a smoke prediction; raises DeployError on any failure."""
        ping = requests.get(f"{self.base_url}/models/{model}/ping", timeout=10)
        if ping.status_code != 200:
            raise DeployError(f"health check failed for {model}: HTTP {ping.status_code}")
        served = self.served_version(model)
        if served != str(version):
            raise DeployError(f"{model}: expected version {version} to be served, found {served}")
        response = requests.post(self.endpoint(model), json=smoke_input, headers=self._auth, timeout=30)
        if response.status_code != 200:
            raise DeployError(f"smoke prediction failed for {model} version {version}: HTTP {response.status_code} {response.text[:500]}")
        predictions = response.json().get("predictions")
        rows = len(next(iter(smoke_input.values()))["data"]) if "dataframe_split" in smoke_input else None
        if not isinstance(predictions, list) or (rows is not None and len(predictions) != rows):
            raise DeployError(f"smoke prediction for {model} version {version}: expected {rows} predictions, got {str(predictions)[:200]}")
        if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in predictions):
            raise DeployError(f"smoke prediction for {model} version {version} returned empty values: {predictions}")

    def deploy(self, model: str, version: str, smoke_input: dict) -> DeployResult:
        started = time.monotonic()
        previous = self.served_version(model)
        if previous == str(version):
            self.check(model, version, smoke_input)
            return DeployResult(model, str(version), self.endpoint(model), "already serving", previous, time.monotonic() - started)
        try:
            self._load(model, version)
            self.check(model, version, smoke_input)
        except (DeployError, requests.RequestException) as exc:
            rollback = "nothing to roll back to (first deploy)"
            if previous is not None:
                try:
                    self._load(model, previous)
                    rollback = f"rolled back to version {previous}"
                except (DeployError, requests.RequestException) as again:
                    rollback = f"ROLLBACK TO {previous} FAILED: {again}"
            raise DeployError(f"deploying {model} version {version} failed ({exc}); {rollback}") from exc
        return DeployResult(model, str(version), self.endpoint(model), "deployed", previous, time.monotonic() - started)


# What the deploy step records on a version: what happened to it last on the serving target.
DEPLOYED, FAILED, REPLACED = "deployed", "failed", "replaced"
FAILURE_TAGS = ("deploy_error", "deploy_failed_at")


@dataclass(frozen=True)
class DeployTags:
    """Tags to set on a version and tags to remove from it (all empty: the tags already say it)."""

    set: dict
    remove: tuple = ()


def failed_tags(error: Exception, at: str) -> DeployTags:
    return DeployTags({"deploy_status": FAILED, "deploy_error": str(error)[:5000], "deploy_failed_at": at})


def deployed_tags(result: DeployResult, tags: dict, at: str) -> DeployTags:
    """The version serves: say so, unless its tags already do.

    A try can fail after the server swapped (the answer was lost); the retry then finds the version
    already serving. Its tags must move from ``failed`` to ``deployed`` all the same, and the failure
    they held stays readable as the earlier failure, no longer as the version's state.
    """
    if result.action != "deployed" and tags.get("deploy_status") == DEPLOYED and tags.get("deployed_to") == result.endpoint:
        return DeployTags({})  # a re-run that found it serving: deployed_at keeps the time it was deployed
    new = {"deploy_status": DEPLOYED, "deployed_at": at, "deployed_to": result.endpoint}
    if tags.get("deploy_status") == FAILED:
        new["deploy_earlier_failure"] = f"{tags.get('deploy_failed_at', '?')}: {tags.get('deploy_error', '?')}"[:5000]
    return DeployTags(new, tuple(key for key in FAILURE_TAGS if key in tags))


def replaced_tags(result: DeployResult, at: str) -> DeployTags:
    """The version served before ``result`` no longer serves."""
    return DeployTags({"deploy_status": REPLACED, "replaced_at": at, "replaced_by": result.version})


def smoke_request(input_example: dict | str) -> dict:
    """MLflow stores the input example as ``{"columns": [...], "data": [...]}``: wrap it for /invocations."""
    if isinstance(input_example, str):
        input_example = json.loads(input_example)
    # MLflow writes missing values as NaN, which is not JSON: send null instead.
    input_example = _nan_to_none(input_example)
    if "dataframe_split" in input_example or "inputs" in input_example:
        return input_example
    return {"dataframe_split": input_example}


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return value
