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


def test_a_file_published_from_the_cache_is_a_link_only_with_the_mode_open_would_give(tmp_path, umask):
    umask(0o022)
    cached = write_atomic(tmp_path / "cache.png", b"png")
    published = write_if_changed(tmp_path / "site.png", b"png", same_as=cached)
    assert os.path.samefile(published, cached) and mode(published) == 0o644  # nothing copied
    os.chmod(cached, 0o600)  # a cache file an older version left unreadable to others: copied, readable
    other = write_if_changed(tmp_path / "other.png", b"png", same_as=cached)
    assert not os.path.samefile(other, cached) and mode(other) == 0o644 and other.read_bytes() == b"png"


SENTENCE = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the three hosts (the model runs once), made by attnviz (pytest's own folders are 0700)."""
    return tmp_path_factory.mktemp("modes") / "cache"


def run(*args: str, cwd: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mkdocs_output_and_cache_are_readable_by_all(site, umask, shared_cache):
    umask(0o022)
    site.page("index.md", f'# Home\n\n```attnviz view="heads"\n{SENTENCE}\n```\n\n```attnviz\n{SENTENCE}\n```\n')
    site.config(plugin=f"cache_dir: {shared_cache}")
    run("mkdocs", "build", "--strict", cwd=site.root)
    assert len(list((site.site / "assets/attnviz").glob("*.png"))) == 2
    assert unreadable(site.site, shared_cache) == []


def test_sphinx_output_and_its_copies_are_readable_by_all(tmp_path, umask, shared_cache, minilm_path):
    umask(0o022)
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        'extensions = ["mkdocs_attnviz.sphinx"]\n'
        f'attnviz_models = {{"sentence-transformers/all-MiniLM-L6-v2": {minilm_path!r}}}\n'
        f'attnviz_cache_dir = {str(shared_cache)!r}\n', encoding="utf-8")
    (src / "index.rst").write_text(f"Home\n====\n\n.. attnviz:: sentence-transformers/all-MiniLM-L6-v2\n\n"
                                   f"   {SENTENCE}\n", encoding="utf-8")
    html, latex, doctrees = tmp_path / "html", tmp_path / "latex", str(tmp_path / "doctrees")
    run("sphinx", "-W", "-b", "html", "-d", doctrees, str(src), str(html), cwd=tmp_path)
    run("sphinx", "-W", "-b", "latex", "-d", doctrees, str(src), str(latex), cwd=tmp_path)
    assert list((html / "_attnviz").glob("*.html")) and list((html / "_attnviz").glob("*.png"))  # written by us
    assert list(latex.glob("*.png"))  # Sphinx's copy of our PNG
    assert unreadable(html, latex, tmp_path / "doctrees", shared_cache) == []


def test_zensical_output_and_cache_are_readable_by_all(tmp_path, umask, shared_cache, minilm_path):
    pytest.importorskip("zensical")
    from zensical_support import ATTNVIZ_TABLE, Project

    umask(0o022)
    table = ATTNVIZ_TABLE + f'cache_dir = "{shared_cache}"\n'
    pages = {"index.md": f"# Home\n\n```attnviz\n{SENTENCE}\n```\n"}
    project = Project(tmp_path / "z", minilm_path, table=table, pages=pages)
    run("zensical", "build", cwd=project.root)
    assert 'class="attnviz"' in (project.site / "index.html").read_text(encoding="utf-8")
    assert unreadable(project.site, shared_cache) == []
