"""A small client of Airflow 3's REST API (``/api/v2``), for scripts and the distributed test tier.

    python scripts/airflow_rest.py --url http://127.0.0.1:8080 --user admin --password ... \\
        trigger seattle_temp_max --logical-date 2026-11-28 --wait

Tasks never use it: it is for operators of the platform (trigger, wait, inspect task instances).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

import requests

FINISHED = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """A call was refused or a run ended badly; the message names the call, the status and Airflow's answer."""


class AirflowRest:
    def __init__(self, url: str, username: str, password: str, timeout_s: float = 30):
        self.url = url.rstrip("/")
        self.username, self.password, self.timeout_s = username, password, timeout_s
        self.session = requests.Session()
        self._token = None

    def _login(self) -> None:
        # Airflow 3's simple auth manager answers a JWT; it expires, so a 401 logs in again once.
        reply = self.session.post(f"{self.url}/auth/token", json={"username": self.username, "password": self.password}, timeout=self.timeout_s)
        if reply.status_code not in (200, 201):
            raise AirflowApiError(f"POST {self.url}/auth/token as {self.username!r}: expected a token, found {reply.status_code} {reply.text[:300]}")
        self._token = reply.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {self._token}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        if self._token is None:
            self._login()
        url = f"{self.url}/api/v2{path}"
        reply = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
        if reply.status_code == 401:
            self._login()
            reply = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
        if reply.status_code >= 300:
            raise AirflowApiError(f"{method} {url}: expected success, found {reply.status_code} {reply.text[:500]}")
        return reply.json() if reply.content else {}

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: datetime | None = None, conf: dict | None = None, run_id: str | None = None) -> dict:
        """A manual run. It owns the latest complete day before ``logical_date`` (or before now, when None),
        unless ``conf["day"]`` names a day (README, "Which data a run owns")."""
        body: dict = {"conf": conf or {}, "logical_date": logical_date.astimezone(UTC).isoformat() if logical_date else None}
        if run_id:
            body["dag_run_id"] = run_id
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def backfill(self, dag_id: str, from_date: datetime, to_date: datetime, conf: dict | None = None) -> dict:
        body = {"dag_id": dag_id, "from_date": from_date.isoformat(), "to_date": to_date.isoformat(), "run_backwards": False,
                "dag_run_conf": conf or {}, "reprocess_behavior": "none", "max_active_runs": 1}
        return self.call("POST", "/backfills", json=body)

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]

    def wait(self, dag_id: str, run_id: str, timeout_s: float = 900, poll_s: float = 1.0) -> dict:
        """Poll the run until it has finished; returns it (success or failed), raises on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
                raise AirflowApiError(f"{dag_id} run {run_id}: expected it finished within {timeout_s:.0f} s, found {run['state']}; tasks {states}")
            time.sleep(poll_s)

    def wait_for_dag(self, dag_id: str, timeout_s: float = 300, poll_s: float = 1.0) -> dict:
        """Wait until the dag-processor has parsed ``dag_id`` (a 404 until then)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.call("GET", f"/dags/{dag_id}")
            except AirflowApiError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(poll_s)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Trigger an Airflow DAG run through the REST API and wait for it.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    trigger = sub.add_parser("trigger")
    trigger.add_argument("dag_id")
    trigger.add_argument("--day", help="YYYY-MM-DD (UTC): the day to train on (the day Param); default the latest complete day")
    trigger.add_argument("--logical-date", help="YYYY-MM-DD (UTC): Airflow's logical date; the run owns the day before it")
    trigger.add_argument("--conf", default="{}", help="JSON")
    trigger.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)
    client = AirflowRest(args.url, args.user, args.password)
    logical = datetime.fromisoformat(args.logical_date).replace(tzinfo=UTC) if args.logical_date else None
    conf = json.loads(args.conf)
    if args.day:
        conf["day"] = args.day
    run = client.trigger(args.dag_id, logical, conf)
    if args.wait:
        run = client.wait(args.dag_id, run["dag_run_id"])
    print(json.dumps({"dag_run_id": run["dag_run_id"], "state": run["state"]}))
    return 0 if run["state"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
