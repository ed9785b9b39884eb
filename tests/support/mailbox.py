"""A real SMTP server (aiosmtpd) in the test process, keeping every message it receives."""

from __future__ import annotations

import email
import time
from email import policy
from html import unescape
from types import SimpleNamespace

from tests.support.processes import free_port


class Mailbox:
    """aiosmtpd handler: keeps every message with what the session knew about TLS and login."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(SimpleNamespace(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), subject=str(message["Subject"]),
            body=unescape(message.get_body(("plain", "html")).get_content()), tls=session.ssl is not None,
            login=session.login_data if session.authenticated else None,
        ))
        return "250 Message accepted for delivery"

    def wait_for(self, subject: str, timeout_s: float) -> SimpleNamespace:
        """The first message with this subject, waiting up to ``timeout_s`` for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [m for m in self.messages if m.subject == subject]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no mail {subject!r} within {timeout_s} s; received: {[m.subject for m in self.messages]}")
            time.sleep(1)


def start_server(mailbox: Mailbox, **smtp_parameters):
    """An SMTP server on a free loopback port (``.port``; ``.stop()`` it)."""
    from aiosmtpd.controller import Controller

    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **smtp_parameters)
    controller.start()
    return controller
