"""Everything attnviz writes is readable by all (files 0644, folders 0755 under the usual umask; the umask is
respected), so a web server running as another user can serve the site: the writers themselves, and every file
attnviz puts into an MkDocs, a Sphinx and a Zensical output and into its cache."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mkdocs_attnviz.files import write_atomic, write_if_changed


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o022)``; restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unreadable(*folders: Path) -> list[str]:
    """Files that others cannot read and folders that others cannot enter, below ``folders``."""
    bad = []
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            want = 0o755 if path.is_dir() else 0o644
            if mode(path) & want != want:
                bad.append(f"{path} {oct(mode(path))}")
    return bad


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_write_atomic_gives_the_mode_open_would(tmp_path, umask, mask, expected):
    umask(mask)
    path = write_atomic(tmp_path / "figure.html", b"<html></html>")
    assert mode(path) == expected
    assert path.read_bytes() == b"<html></html>"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.html"]  # no temporary file left


def test_write_if_changed_fixes_the_mode_of_an_unchanged_file(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "figure.png"
    path.write_bytes(b"png")
    os.chmod(path, 0o600)  # as an older version left it
    before = path.stat().st_mtime_ns
    write_if_changed(path, b"png")
    assert mode(path) == 0o644 and path.stat().st_mtime_ns == before
    write_if_changed(path, b"new")
    assert mode(path) == 0o644 and path.read_bytes() == b"new"
