"""What every part of the ``attnviz`` command shares: exit statuses, the usage error, stderr, paths in messages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "UsageError", "err", "display"]

#: 0 ok, 1 a figure failed (its file and line are on stderr), 2 usage error
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command line or unusable PATH: exit status 2."""


def err(message: str) -> None:
    """One line on stderr, at once (progress bars and logging share the stream)."""
    print(message, file=sys.stderr, flush=True)


def display(path: str | os.PathLike) -> str:
    """A path for messages: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
        return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()
    except ValueError:
        return Path(path).as_posix()
