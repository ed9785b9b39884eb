"""The run deadline, fired for real: the scheduler marks the deadline missed, the triggerer runs the
DAG's callback, and the model's owner gets the mail (from the SMTP server the stack's alerts go to)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.stack.conftest import LATE_MODEL, trigger

pytestmark = pytest.mark.stack


def test_a_run_not_finished_by_its_deadline_mails_the_owner(stack):
    # The DAG stays paused, so its run is queued and never starts: certainly late after its one minute.
    queued_at = time.monotonic()
    run_id = trigger(stack, LATE_MODEL, "2026-06-10T00:00:00Z")
    try:
        mail = stack.mailbox.wait_for(f"[ct] {LATE_MODEL} is late", timeout_s=300)
        print(f"\n[stack] deadline alert received {time.monotonic() - queued_at:.0f} s after the run was queued (deadline 60 s)")
        assert mail.rcpt_tos == ["ecology@example.com"] and mail.mail_from == "airflow@localhost"
        assert f"{LATE_MODEL}: run {run_id} is not finished 1 minutes after it was queued." in mail.body
        assert time.monotonic() - queued_at >= 60, "the alert came before the deadline"
        run = stack.api.get(f"/dags/{LATE_MODEL}/dagRuns/{run_id}")
        assert run["state"] == "queued", run
    finally:
        requests.delete(f"{stack.url}/api/v2/dags/{LATE_MODEL}/dagRuns/{run_id}", headers=stack.api.headers, timeout=60)
