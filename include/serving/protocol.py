"""uvicorn's HTTP protocol with a deadline for request headers (slow-client protection).

uvicorn times out idle keep-alive connections, but a client that opens a connection and
sends its headers a byte at a time (slowloris) is kept forever. Here every request must
finish its headers within ``header_timeout_s`` of its first byte (or of the connection's
start); otherwise it gets a 408 with a JSON message and the connection is closed.
"""

from __future__ import annotations

import functools
import json
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("uvicorn.error")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_s: float = 10.0
    _header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        body = json.dumps(
            {
                "error_code": "REQUEST_TIMEOUT",
                "message": f"request headers did not arrive within {self.header_timeout_s:g} s (CT_SERVING_HEADER_TIMEOUT_S)",
                "expected": f"complete request headers within {self.header_timeout_s:g} s",
                "found": "an incomplete request",
            }
        ).encode()
        head = f"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        log.warning("%s:%s - closed: request headers not complete within %g s - 408", *(self.client or ("?", "?")), self.header_timeout_s)
        self.transport.write(head.encode() + body)
        self.transport.close()


class HeaderDeadlineFromEnv(HeaderDeadlineProtocol):
    """The protocol by import path, for worker processes: uvicorn imports it in each worker (a class
    made at run time by ``with_header_deadline`` cannot be sent to a spawned process)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = _header_timeout_from_env()


@functools.cache
def _header_timeout_from_env() -> float:
    from include.serving.config import ServingConfig

    return ServingConfig.from_env().header_timeout_s


def with_header_deadline(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
