"""Where a block is, for messages: the page's name relative to its project, and the lines a host stripped before
the Markdown it rendered (front matter), so that line numbers count from the top of the file, on every host."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["front_matter_lines", "relative_page_name", "without_machine_paths"]


def front_matter_lines(source: str, body: str) -> int:
    """How many lines of a page's ``source`` come before the Markdown a host rendered (``body``): its front matter,
    counted so that messages give line numbers from the top of the file."""
    if body and source.endswith(body):
        return source[: len(source) - len(body)].count("\n")
    return 0


def relative_page_name(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``docs/guide/page.md`` for messages: the page path relative to the project folder."""
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def without_machine_paths(text: str, roots: "list[str | os.PathLike | None]") -> str:
    """``text`` (a message a page shows) with the build machine's folders taken out: a path inside one of ``roots``
    (the project folder) relative to it, the home folder as ``~``. What a site publishes says nothing about the
    machine that built it."""
    folders = set()
    for root in roots:
        if root:
            folders.update({os.path.abspath(os.fspath(root)), os.path.realpath(os.fspath(root))})
    for folder in sorted(folders, key=len, reverse=True):  # the deepest first
        if folder != os.sep:
            text = text.replace(folder + os.sep, "").replace(folder, ".")
    home = os.path.expanduser("~")
    if home not in ("", os.sep, "~"):
        for folder in sorted({home, os.path.realpath(home)}, key=len, reverse=True):
            text = text.replace(folder + os.sep, "~" + os.sep)
    return text
