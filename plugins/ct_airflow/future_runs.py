"""Refuse, in the API server, a manual run whose logical date is in the future (the REST API and the UI form).

Airflow creates such a run and its scheduler never starts it before that time: it stays ``running`` with no task
started, the scheduler logs "Logical date is in future" several times a second, and with ``max_active_runs=1``
the DAG's other runs wait behind it. No task of ours can refuse it (none starts), so the request is answered
400 before Airflow sees it, saying how to choose a day instead. ``airflow dags trigger`` writes to the metadata
database without the API server and is not covered (README, "Which data a run owns").
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

TRIGGER_PATH = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
# The form fills in the browser's "now": a browser clock a little ahead must not be refused.
CLOCK_SKEW = timedelta(minutes=5)


def future_logical_date(dag_id: str, body: bytes, now: datetime) -> str | None:
    """Why a trigger request must be refused ('' or None: let Airflow answer it, malformed bodies included)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    raw = payload.get("logical_date") if isinstance(payload, dict) else None
    if not isinstance(raw, str) or not raw:
        return None
    try:
        logical = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if logical.tzinfo is None or logical <= now + CLOCK_SKEW:
        return None
    latest = now.astimezone(UTC).date() - timedelta(days=1)
    return (
        f"logical_date {raw} is in the future (now {now.astimezone(UTC).isoformat(timespec='seconds')}): Airflow would create a run "
        f"of {dag_id} that never starts before that time and holds back its other runs (max_active_runs=1). To train on a past day, "
        f'leave logical_date empty and set conf {{"day": "YYYY-MM-DD"}}: {latest} or earlier; with neither, the run owns the latest '
        f"complete day ({latest})."
    )


class RefuseFutureLogicalDates:
    """Pure ASGI middleware: reads the body of ``POST .../dags/<id>/dagRuns`` and refuses a future logical date."""

    def __init__(self, app, clock=lambda: datetime.now(UTC)):
        self.app, self.clock = app, clock

    async def __call__(self, scope, receive, send):
        match = TRIGGER_PATH.search(scope.get("path", "")) if scope["type"] == "http" and scope.get("method") == "POST" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        refusal = future_logical_date(match["dag_id"], body, self.clock())
        if refusal:
            from starlette.responses import JSONResponse

            await JSONResponse({"detail": refusal}, status_code=400)(scope, receive, send)
            return
        pending = iter(messages)

        async def replay():
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)
