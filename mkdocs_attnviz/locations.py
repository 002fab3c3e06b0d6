"""Where a block is, for messages: the page's name relative to its project, and the lines a host stripped before
the Markdown it rendered (front matter), so that line numbers count from the top of the file, on every host."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AttnvizError

__all__ = ["front_matter_lines", "relative_page_name", "without_machine_paths", "confined_file"]


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


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _shown(path: str, root: str) -> str:
    """A path inside the project as a message shows it: relative to the project folder."""
    rel = os.path.relpath(os.path.abspath(path), root) if _inside(os.path.realpath(path), root) else path
    return Path(rel).as_posix()


def confined_file(name: str, *, page_dir: str | None, docs_dir: str | None, root: str | None, option: str,
                  absolute: bool = False) -> str:
    """The real path of the file a block names (``data=``, ``font=``): relative to the page's folder, then the docs
    folder (or, with ``absolute``, an absolute path); after symlinks are resolved it must be inside ``root`` (the
    project folder). Else :class:`AttnvizError` for ``option``, which never says where a path leading out points."""
    root_real = os.path.realpath(root or docs_dir or page_dir or os.getcwd())
    if os.path.isabs(name) and absolute:
        bases: tuple[str | None, ...] = ("",)
    elif os.path.isabs(name) or name.startswith("~") or (len(name) > 1 and name[1] == ":"):
        raise AttnvizError(f"{name!r} is an absolute path: name the file relative to the page or the docs folder",
                           option=option)
    else:
        bases = tuple(base for base in (page_dir, docs_dir) if base)
    tried = []
    for base in bases:
        candidate = os.path.join(base, name)
        real = os.path.realpath(candidate)
        tried.append(candidate)
        if not _inside(real, root_real):
            raise AttnvizError(f"{name!r} points outside the project: files named in a page must stay inside the "
                               "project", option=option)
        if os.path.isfile(real):
            return real
    where = " or ".join(dict.fromkeys(repr(_shown(t, root_real)) for t in tried)) or repr(name)
    raise AttnvizError(f"no such file: {where}", option=option)
