"""Helpers for tests that start a server (``zensical serve``, ``properdocs serve``): a free loopback port, polling."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 120.0):
    """Call ``check`` until it returns something truthy (an OSError, AssertionError or ValueError counts as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, AssertionError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")
