"""Writing files: whole or not at all, readable by all.

Everything attnviz writes (cache entries, the figure files it publishes into a site, Sphinx's copies) goes
through :func:`write_atomic`: a temporary file in the same folder, then ``os.replace``, so a reader (another
build, a browser, a web server) never sees half a file, even if the build is killed.
:func:`write_if_changed` skips identical content, which keeps ``mkdocs serve`` from reloading for nothing and
parallel writers of one figure (Sphinx ``-j``) from tearing it. A figure file published from the cache is a hard
link to the cache's file where the system allows (nothing is copied: a warm build of many figures writes almost
nothing); the cache replaces its files, never rewrites them, so a published file never changes under a site, and a
cache file changed through its link fails its hash check on the next read and is rendered again.

Files get the mode an ordinary ``open()`` would give them (``0o666`` less the umask: 0644 under the usual umask
022; the temporary file is made with it, never 0600), so a web server running as another user can serve a site.
Folders are made with ``Path.mkdir``, which gives ``0o777`` less the umask (0755), parents included.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

__all__ = ["write_atomic", "write_if_changed", "file_mode"]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a file attnviz writes: ``0o666`` less the umask (0644 under the usual umask)."""
    return 0o666 & ~_umask()


def _temporary(folder: Path, suffix: str) -> tuple[int, str]:
    """A new file in ``folder`` for :func:`write_atomic`, opened for writing: made with the mode ``open()`` gives
    (``0o666`` less the umask, applied by the system, default ACLs included) — ``tempfile.mkstemp`` makes 0600,
    which would take a ``chmod`` and the umask read back for every file."""
    for _ in range(100):
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same folder, then
    ``os.replace``. A reader (another build, a browser) never sees half a file."""
    fd, tmp = _temporary(path.parent, path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_if_changed(path: Path, data: bytes, *, same_as: Path | None = None, mode: int | None = None) -> Path:
    """Publish ``data`` at ``path`` atomically, and only if it changed (an unchanged file that others cannot
    read, left by an older version, gets its mode fixed).

    ``same_as``: a file that holds ``data`` (a cache entry's file, checked against its hash in this build). A new
    ``path`` is then made a hard link to it: nothing is written, and the file appears whole at once. Only where the
    system allows it (same file system) and where that file has the mode a new file gets; else ``data`` is written.
    ``mode``: :func:`file_mode`, when the caller has it already (it is read from the system)."""
    try:
        st = path.stat()
        if st.st_size == len(data) and path.read_bytes() == data:
            mode = file_mode() if mode is None else mode
            if st.st_mode & 0o777 != mode:
                try:
                    os.chmod(path, mode)
                except OSError:  # another user's file: leave it as it is
                    pass
            return path
    except FileNotFoundError:
        if same_as is not None and _link(same_as, path, file_mode() if mode is None else mode):
            return path
    return write_atomic(path, data, fsync=False)


def _link(source: Path, path: Path, mode: int) -> bool:
    """Make ``path`` a hard link to ``source`` if ``source`` has ``mode``; False where that cannot be done (another
    file system, a system without links, ``path`` made meanwhile)."""
    try:
        if os.stat(source).st_mode & 0o777 != mode:
            return False
        os.link(source, path)
    except (OSError, NotImplementedError):
        return False
    return True
