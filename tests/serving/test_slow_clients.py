"""Slow clients (slowloris) against the real model server: they get a 408 when their time is up,
and meanwhile everyone else is answered as usual."""

from __future__ import annotations

import json
import socket
import time
from contextlib import ExitStack
from urllib.parse import urlparse

import pytest
import requests

from tests.serving.conftest import LIMITS

pytestmark = pytest.mark.services
HEADER_TIMEOUT_S = float(LIMITS["CT_SERVING_HEADER_TIMEOUT_S"])
BODY_TIMEOUT_S = float(LIMITS["CT_SERVING_BODY_TIMEOUT_S"])
SLOW_CLIENTS = 40


def open_slow(server, stack: ExitStack, first_bytes: bytes) -> socket.socket:
    address = urlparse(server.url)
    sock = stack.enter_context(socket.create_connection((address.hostname, address.port), timeout=30))
    sock.sendall(first_bytes)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_slow_clients_get_408_and_others_are_served_meanwhile(server):
    path = urlparse(server.invocations).path
    with ExitStack() as stack:
        started = time.monotonic()
        # Half never finish their headers; half send headers, then a body that never completes.
        slow_headers = [open_slow(server, stack, f"POST {path} HTTP/1.1\r\nHost: test\r\nX-Slow: ".encode()) for _ in range(SLOW_CLIENTS // 2)]
        head = f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {server.predict_token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        slow_bodies = [open_slow(server, stack, head.encode() + b'{"dataframe_split": ') for _ in range(SLOW_CLIENTS // 2)]

        # Everyone else is served while the slow clients hold their connections.
        answered = [requests.post(server.invocations, json=server.good_payload(), headers=server.auth, timeout=30).status_code for _ in range(5)]
        assert answered == [200] * 5, answered

        for sock in slow_headers + slow_bodies:
            answer = read_answer(sock)
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
            message = json.loads(rest.partition(b"\r\n\r\n")[2])
            assert "did not arrive within" in message["message"] and message["expected"] and message["found"], message
        waited = time.monotonic() - started
    assert waited < max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + 60  # closed by the server's deadlines (each read would time out at 30 s)
    assert requests.get(f"{server.url}/health", timeout=10).json()["models"] == {server.model: "1"}
    assert server.server_errors() == []


def test_an_idle_keep_alive_connection_is_closed(server):
    """uvicorn's timeout_keep_alive (CT_SERVING_KEEP_ALIVE_S, 5 s): an idle client does not hold a connection."""
    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = read_answer(sock)  # the answer, then nothing until the server closes the idle connection
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"}}"), answer[:300]
        assert time.monotonic() - started < 25
