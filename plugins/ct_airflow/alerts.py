"""Alerts for the owning team: task failures (a notifier) and runs past their deadline.

One Airflow connection per team decides where alerts go, so a team can point them at
Slack or e-mail without touching code:

- ``http``/``https`` connection: the host (+ schema, port, path in ``extra.path``) is a
  Slack-compatible incoming webhook; the alert is POSTed as ``{"text": ...}``.
- ``smtp``/``email`` connection: a mail to the model owner, sent by Airflow's SMTP provider
  hook, so the connection means what it means to Airflow: implicit TLS (SMTPS) unless extra
  ``disable_ssl``, STARTTLS unless ``disable_tls``, a login when ``login`` and ``password`` are
  set, sender ``from_email`` (extra; else ``login``), ``timeout`` and ``retry_limit``.
- no connection: the alert is only logged (the embedded default).
"""

from __future__ import annotations

import json
import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def _connection(conn_id: str):
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def webhook_url(conn) -> str:
    if "://" in (conn.host or ""):
        return conn.host
    scheme = conn.schema or ("http" if conn.conn_type == "http" else "https")
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}{conn.extra_dejson.get('path', '')}"


def send_mail(conn_id: str, conn, subject: str, text: str, to: str | None) -> str:
    """One alert as a mail through Airflow's SmtpHook (TLS, login, retries as the connection says)."""
    from html import escape

    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as smtp:
        # The hook sends HTML only; <pre> keeps the alert's lines and the error text as written.
        smtp.send_email_smtp(to=to or conn.login, subject=subject, html_content=f"<pre>{escape(text)}</pre>",
                             from_email=smtp.from_email or conn.login or "airflow@localhost")
    return f"smtp:{conn.host}"


def send_alert(conn_id: str, subject: str, text: str, to: str | None = None) -> str:
    """Deliver one alert; returns where it went. Delivery problems are logged, never raised:
    an alert must not turn a failure callback into a second failure."""
    log.warning("ALERT %s: %s", subject, text)
    conn = _connection(conn_id)
    if conn is None:
        return "log"
    try:
        if conn.conn_type in ("smtp", "email"):
            return send_mail(conn_id, conn, subject, text, to)
        import requests

        url = webhook_url(conn)
        response = requests.post(url, data=json.dumps({"text": f"*{subject}*\n{text}"}), headers={"Content-Type": "application/json"}, timeout=10)
        response.raise_for_status()
        return url
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.error("could not deliver the alert through connection %r: %s", conn_id, exc)
        return "log"


class PipelineAlertNotifier(BaseNotifier):
    """Failure callback of every task of a model DAG: what failed, where, and the log link."""

    template_fields = ("model", "conn_id", "owner_email")

    def __init__(self, *, model: str, conn_id: str, owner_email: str | None = None):
        super().__init__()
        self.model = model
        self.conn_id = conn_id
        self.owner_email = owner_email

    def notify(self, context) -> None:
        ti = context.get("ti") or context.get("task_instance")
        task_id = getattr(ti, "task_id", "?")
        exception = context.get("exception")
        text = (
            f"{self.model}: task {task_id} failed in run {context.get('run_id')}"
            f" (try {getattr(ti, 'try_number', '?')}).\nError: {str(exception)[:1000] if exception else 'unknown'}"
            f"\nLog: {getattr(ti, 'log_url', '') or 'see the Airflow UI'}"
        )
        send_alert(self.conn_id, f"[ct] {self.model} failed", text, self.owner_email)


async def deadline_missed(model: str, conn_id: str, minutes: int, owner_email: str | None = None, context: dict | None = None) -> str:
    """Deadline callback (runs on the triggerer): the run was queued ``minutes`` ago and has not finished."""
    import asyncio

    # Airflow hands the run over as its REST model dumped to JSON (DAGRunResponse), which names the id dag_run_id.
    dag_run = (context or {}).get("dag_run")
    run_id = (dag_run.get("dag_run_id") or dag_run.get("run_id") or "?") if isinstance(dag_run, dict) else "?"
    text = f"{model}: run {run_id} is not finished {minutes} minutes after it was queued."
    return await asyncio.to_thread(send_alert, conn_id, f"[ct] {model} is late", text, owner_email)
