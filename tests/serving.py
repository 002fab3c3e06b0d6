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


def serve_folder(folder, *, cache_control: str | None = None):
    """A quiet static HTTP server of ``folder`` on a free loopback port, in a daemon thread; ``shutdown()`` it.
    ``cache_control``: a Cache-Control header on every answer (GitHub Pages sends ``max-age=600``)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            if cache_control:
                self.send_header("Cache-Control", cache_control)
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
