"""Writing files: whole or not at all.

Everything attnviz writes (cache entries, the figure files it publishes into a site, Sphinx's copies) goes
through :func:`write_atomic`: a temporary file in the same folder, then ``os.replace``, so a reader (another
build, a browser, a web server) never sees half a file, even if the build is killed.
:func:`write_if_changed` skips identical content, which keeps ``mkdocs serve`` from reloading for nothing and
parallel writers of one figure (Sphinx ``-j``) from tearing it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "write_if_changed"]


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
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_if_changed(path: Path, data: bytes) -> Path:
    """Publish ``data`` at ``path`` atomically, and only if it changed."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
    except FileNotFoundError:
        pass
    return write_atomic(path, data, fsync=False)
