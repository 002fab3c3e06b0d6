"""Writing files: whole or not at all, readable by all.

Everything attnviz writes (cache entries, the figure files it publishes into a site, Sphinx's copies) goes
through :func:`write_atomic`: a temporary file in the same folder, then ``os.replace``, so a reader (another
build, a browser, a web server) never sees half a file, even if the build is killed.
:func:`write_if_changed` skips identical content, which keeps ``mkdocs serve`` from reloading for nothing and
parallel writers of one figure (Sphinx ``-j``) from tearing it.

Files get the mode an ordinary ``open()`` would give them (``0o666`` less the umask: 0644 under the usual umask
022), not the 0600 of the temporary file, so a web server running as another user can serve a site. Folders are
made with ``Path.mkdir``, which gives ``0o777`` less the umask (0755), parents included.
"""

from __future__ import annotations

import os
import tempfile
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


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same folder, then
    ``os.replace``. A reader (another build, a browser) never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, file_mode())  # mkstemp makes 0600: readable by its owner only
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_if_changed(path: Path, data: bytes) -> Path:
    """Publish ``data`` at ``path`` atomically, and only if it changed (an unchanged file that others cannot
    read, left by an older version, gets its mode fixed)."""
    try:
        st = path.stat()
        if st.st_size == len(data) and path.read_bytes() == data:
            mode = file_mode()
            if st.st_mode & 0o777 != mode:
                try:
                    os.chmod(path, mode)
                except OSError:  # another user's file: leave it as it is
                    pass
            return path
    except FileNotFoundError:
        pass
    return write_atomic(path, data, fsync=False)
