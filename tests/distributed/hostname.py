"""Airflow ``hostname_callable`` for the distributed tier: two workers on one machine, told apart by name."""

import os
import socket


def worker_name() -> str:
    return os.environ.get("CT_WORKER_NAME") or socket.getfqdn()
