"""Faults: damaged cache entries, two builds sharing one cache, builds killed with SIGKILL, a read-only cache.

Each test is a case of docs/reliability.md (section "Cache"). Builds run in this process (the Site-like
helpers of test_hostile_support) or, where a separate process is the point, as `mkdocs build` subprocesses.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import files as files_module
from mkdocs_attnviz.cache import CACHE_FORMAT, STALE_TMP_SECONDS, Cache
from test_hostile_support import MODEL, mkdocs_build, tree_bytes, tree_snapshot, write_site

LOGGER = "mkdocs_attnviz"
SENTENCES = ["The cat sat on the mat.", "A dog chased the ball.", "Birds sing in the morning."]
PAGES = {"index.md": "# Home\n\n" + "\n".join(f'```attnviz head="{i}"\n{s}\n```\n' for i, s in enumerate(SENTENCES)),
         "guide/page.md": f'# Guide\n\n```attnviz layer="0" head="max"\n{SENTENCES[0]}\n```\n'}
N_FIGURES = 4  # three sentences, one of them twice with other options: 3 extractions, 4 figures


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER]


def make_site(root: Path, minilm_path: str, cache_dir: Path | str, pages=PAGES, plugin: str = "") -> Path:
    return write_site(root, {MODEL: minilm_path}, pages, plugin=f"cache_dir: {json.dumps(str(cache_dir))}\n" + plugin)


def entries(cache_dir: Path, kind: str, suffix: str) -> list[Path]:
    return sorted(p for p in (cache_dir / kind).glob(f"*/*{suffix}") if not p.name.startswith(".tmp-"))


def temporaries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*/*/.tmp-*"))


def assert_cache_intact(cache_dir: Path, *, extractions: int, figures: int) -> None:
    """Every entry loads, with no problem, and there are exactly the entries expected."""
    cache = Cache(cache_dir)
    npz, js = entries(cache_dir, "extract", ".npz"), entries(cache_dir, "render", ".json")
    assert len(npz) == extractions and len(js) == figures, (npz, js)
    for path in npz:
        assert cache.get_attention(path.stem) is not None, path
    for path in js:
        entry = cache.get_render(path.stem)
        assert entry is not None and {s for s in entry["files"] if not s.startswith("@")} == {".html", ".png"}, path
    assert cache.problems == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory, minilm_path):
    """A clean build from an empty cache: the site every other build must reproduce byte for byte."""
    root = tmp_path_factory.mktemp("reference") / "project"
    make_site(root, minilm_path, root / "cache")
    mkdocs_build(root, strict=True)
    assert_cache_intact(root / "cache", extractions=3, figures=N_FIGURES)
    return {"site": tree_bytes(root / "site"), "cache": root / "cache"}


def assert_same_site(site: Path, reference) -> None:
    got = tree_bytes(site)
    assert sorted(got) == sorted(reference["site"])
    assert [name for name in got if got[name] != reference["site"][name]] == []


# -- damaged entries -----------------------------------------------------------------------------------

def _rewrite_npz_header(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(bytes(npz["header"]).decode("utf-8"))
        weights = npz["weights"]
    header.update(changes)
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=weights, header=np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8))
    path.write_bytes(buf.getvalue())


def _rewrite_json(path: Path, **changes) -> None:
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry.update(changes)
    path.write_text(json.dumps(entry), encoding="utf-8")


DAMAGE = {
    # attention entries (the rendered figures are removed so the attention must be read)
    "extract-truncated": ("extract", lambda p, other: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "extract-garbage": ("extract", lambda p, other: p.write_bytes(b"PK\x03\x04 this is not a zip file")),
    "extract-empty": ("extract", lambda p, other: p.write_bytes(b"")),
    "extract-older-format": ("extract", lambda p, other: _rewrite_npz_header(p, format=CACHE_FORMAT - 1)),
    "extract-wrong-key": ("extract", lambda p, other: shutil.copyfile(other, p)),
    "extract-nan-weights": ("extract", lambda p, other: _nan_weights(p)),
    # rendered figures
    "render-truncated-json": ("render", lambda p, other: p.write_bytes(p.read_bytes()[:40])),
    "render-garbage-json": ("render", lambda p, other: p.write_bytes(b"\xff\xfe garbage")),
    "render-older-format": ("render", lambda p, other: _rewrite_json(p, format=CACHE_FORMAT - 1)),
    "render-wrong-key": ("render", lambda p, other: _rewrite_json(p, key=other.stem)),
    "render-damaged-html": ("render", lambda p, other: p.with_suffix(".html").write_bytes(
        b"<script>window.__pwned=1</script>")),
    "render-truncated-png": ("render", lambda p, other: p.with_suffix(".png").write_bytes(
        p.with_suffix(".png").read_bytes()[:100])),
    "render-missing-png": ("render", lambda p, other: p.with_suffix(".png").unlink()),
}


def _nan_weights(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        header, weights = npz["header"], npz["weights"].copy()
    weights.flat[0] = np.nan
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=weights, header=header)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_entry_is_detected_warned_rebuilt_and_never_shown(tmp_path, minilm_path, reference, caplog, case):
    kind, damage = DAMAGE[case]
    cache_dir = tmp_path / "cache"
    shutil.copytree(reference["cache"], cache_dir)
    suffix = ".npz" if kind == "extract" else ".json"
    victim, other = entries(cache_dir, kind, suffix)[:2]
    damage(victim, other)
    if kind == "extract":
        shutil.rmtree(cache_dir / "render")
    root = make_site(tmp_path / "project", minilm_path, cache_dir)
    docs = tree_snapshot(root / "docs")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root)
    messages = warnings_of(caplog)
    assert messages and all("is ignored and rebuilt" in m for m in messages), messages
    assert any(victim.stem in m for m in messages), messages  # the warning names the entry
    assert_same_site(root / "site", reference)  # rebuilt, identical: the damaged bytes were never shown
    assert_cache_intact(cache_dir, extractions=3, figures=N_FIGURES)  # and the entry is whole again
    assert tree_snapshot(root / "docs") == docs
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root, strict=True)  # the next build is clean
    assert warnings_of(caplog) == []


def test_unknown_files_in_the_cache_are_ignored(tmp_path, minilm_path, reference):
    cache_dir = tmp_path / "cache"
    shutil.copytree(reference["cache"], cache_dir)
    (cache_dir / "extract" / "zz").mkdir()
    (cache_dir / "extract" / "zz" / "notes.txt").write_text("hello")
    (cache_dir / "render" / "README").write_text("not an entry")
    root = make_site(tmp_path / "project", minilm_path, cache_dir)
    mkdocs_build(root, strict=True)
    assert_same_site(root / "site", reference)


# -- two builds sharing one cache --------------------------------------------------------------------

MANY = [f"Sentence number {i} is about a {w}." for i, w in enumerate(
    "cat dog bird fish horse cow sheep goat duck frog bee ant owl fox bear wolf deer lion seal crab".split())]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # two builds on two cores: no thread oversubscription


def test_two_concurrent_builds_share_one_cache(tmp_path, minilm_path):
    assert len(MANY) == 20
    pages = {"index.md": "# Twenty\n\n" + "\n".join(f'```attnviz head="{i % 12}"\n{s}\n```\n'
                                                    for i, s in enumerate(MANY))}
    cache_dir = tmp_path / "shared-cache"
    roots = [make_site(tmp_path / name, minilm_path, cache_dir, pages) for name in ("a", "b")]
    procs = [subprocess.Popen([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                               str(root / "mkdocs.yml")], cwd=root, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for root in roots]
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    a, b = (tree_bytes(root / "site") for root in roots)
    assert sorted(a) == sorted(b) and [k for k in a if a[k] != b[k]] == []
    assert sum(1 for name in a if name.startswith("assets/attnviz/") and name.endswith(".html")) == 20
    assert temporaries(cache_dir) == []
    assert_cache_intact(cache_dir, extractions=20, figures=20)


# -- builds killed with SIGKILL -----------------------------------------------------------------------

KILLER = textwrap.dedent('''
    """Run `mkdocs build` and SIGKILL ourselves at one point of the second figure."""
    import os, signal, sys
    mode, config = sys.argv[1], sys.argv[2]
    main = os.getpid()  # the build: a PNG may be drawn in a worker process, which kills the build, not itself
    from mkdocs_attnviz import extract as X
    from mkdocs_attnviz.views.heatmap import Heatmap
    counter = os.path.join(os.path.dirname(config), ".calls")  # counted across the build and its PNG workers

    def second():
        fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"x")
        os.close(fd)
        return os.path.getsize(counter) == 2

    def die():
        sys.stdout.flush()
        os.kill(main, signal.SIGKILL)

    if mode == "extraction":  # inside the forward pass of the second sentence: nothing of it stored yet
        original_extract = X.extract
        def extract(*args, **kwargs):
            att = original_extract(*args, **kwargs)
            if second():
                die()
            return att
        X.extract = extract
    elif mode == "rendering":  # drawing the PNG of the second figure: attention stored, no figure file
        original_png = Heatmap.picture
        def picture(*args, **kwargs):
            if second():
                die()
            return original_png(*args, **kwargs)
        Heatmap.picture = picture
    else:  # "extraction-write" / "rendering-write": a temporary file written, not yet moved into place
        kind, suffix = ("/extract/", ".npz") if mode == "extraction-write" else ("/render/", ".png")
        original_fsync = os.fsync
        def fsync(fd):
            path = os.readlink(f"/proc/self/fd/{fd}")
            if kind in path and "/.tmp-" in path and path.endswith(suffix) and second():
                die()
            return original_fsync(fd)
        os.fsync = fsync
    from mkdocs.__main__ import cli
    cli(["build", "-q", "-f", config])
''')

#: what each kill leaves in the cache, drawing in place: (attention entries, figure entries, .html files, temporaries)
LEFT = {"extraction": (1, 1, 1, 0), "extraction-write": (1, 1, 1, 1), "rendering": (2, 1, 1, 0),
        "rendering-write": (2, 1, 2, 1)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
@pytest.mark.parametrize("mode", list(LEFT))
def test_build_killed_leaves_no_partial_entry_and_next_build_is_correct(tmp_path, minilm_path, reference, mode,
                                                                        caplog):
    cache_dir = tmp_path / "cache"
    root = make_site(tmp_path / "project", minilm_path, cache_dir)
    docs = tree_snapshot(root / "docs")
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(killer), mode, str(root / "mkdocs.yml")], cwd=root, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    npz, js = entries(cache_dir, "extract", ".npz"), entries(cache_dir, "render", ".json")
    html = entries(cache_dir, "render", ".html")
    left = temporaries(cache_dir)
    # PNGs are drawn in a worker process while the build goes on (pictures.py): a figure is stored only once its
    # PNG is back, so how far the build got is a matter of timing; what it had to have done, and the temporary the
    # kill interrupted, are not
    most_npz, most_js, most_html, n_left = LEFT[mode]
    least_npz = 1 if mode.startswith("extraction") else 2
    assert least_npz <= len(npz) <= (most_npz if mode.startswith("extraction") else 3), npz
    assert len(js) <= most_js + (len(npz) - least_npz) and len(js) <= len(html) <= len(js) + 1, (js, html)
    assert len(left) == n_left, left
    assert_cache_intact_partial(cache_dir)
    assert tree_snapshot(root / "docs") == docs

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root, strict=True)  # no warning: a half-done entry is simply not there yet
    assert warnings_of(caplog) == []
    assert_same_site(root / "site", reference)
    assert_cache_intact(cache_dir, extractions=3, figures=N_FIGURES)
    assert temporaries(cache_dir) == left  # a fresh temporary may be another build's: left alone, never read

    old = time.time() - STALE_TMP_SECONDS - 60
    for path in left:
        os.utime(path, (old, old))
    swept = Cache(cache_dir).swept  # an hour later, the next build deletes them
    assert sorted(swept) == left and temporaries(cache_dir) == []


def assert_cache_intact_partial(cache_dir: Path) -> None:
    """Whatever a killed build left under a final name is a complete, valid entry."""
    cache = Cache(cache_dir)
    for path in entries(cache_dir, "extract", ".npz"):
        assert cache.get_attention(path.stem) is not None
    for path in entries(cache_dir, "render", ".json"):
        assert cache.get_render(path.stem) is not None
    assert cache.problems == []


def test_fresh_temporaries_are_kept_stale_ones_swept(tmp_path):
    (tmp_path / "extract" / "ab").mkdir(parents=True)
    fresh, stale = tmp_path / "extract" / "ab" / ".tmp-fresh.npz", tmp_path / "extract" / "ab" / ".tmp-stale.npz"
    fresh.write_bytes(b"x")
    stale.write_bytes(b"x")
    old = time.time() - STALE_TMP_SECONDS - 1
    os.utime(stale, (old, old))
    cache = Cache(tmp_path)
    assert cache.swept == [stale] and fresh.exists() and not stale.exists()


# -- a read-only cache ----------------------------------------------------------------------------------

def test_cache_folder_that_cannot_be_created(tmp_path, minilm_path, reference, caplog):
    """Root ignores permissions, so read-only is simulated by a cache folder under a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    root = make_site(tmp_path / "project", minilm_path, blocker / "cache")
    docs = tree_snapshot(root / "docs")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root)
    messages = warnings_of(caplog)
    assert len(messages) == 1 and "is not writable" in messages[0] and "kept in memory" in messages[0], messages
    assert_same_site(root / "site", reference)
    assert blocker.read_text() == "a file, not a folder" and tree_snapshot(root / "docs") == docs


def test_read_only_filled_cache(tmp_path, minilm_path, reference, caplog, monkeypatch):
    """A filled cache on a read-only file system (every write fails with EROFS): cached figures are
    used, a new figure is computed and kept in memory, one warning, the cache is left untouched."""
    cache_dir = tmp_path / "cache"
    shutil.copytree(reference["cache"], cache_dir)
    before = tree_snapshot(cache_dir)

    real_open = files_module.os.open

    def create(path, flags, *args, **kwargs):  # only the cache folder is on the read-only file system
        if flags & os.O_CREAT and str(path).startswith(str(cache_dir)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(cache_dir)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(files_module.os, "open", create)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    pages = dict(PAGES, **{"new.md": "# New\n\n```attnviz\nA sentence the cache has never seen.\n```\n\n"
                                     "```attnviz head=\"max\"\nA sentence the cache has never seen.\n```\n"})
    root = make_site(tmp_path / "project", minilm_path, cache_dir, pages)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root)
    messages = warnings_of(caplog)
    assert len(messages) == 1 and "is not writable" in messages[0], messages
    assert "Read-only file system" in messages[0]
    site = tree_bytes(root / "site")
    figures = {k: v for k, v in reference["site"].items() if k.startswith("assets/attnviz/")}
    assert {k: site[k] for k in figures} == figures  # the cached figures, as a writable cache gives them
    assert (root / "site" / "new" / "index.html").read_text().count('class="attnviz-frame"') == 2
    assert tree_snapshot(cache_dir) == before


def test_read_only_cache_under_strict_fails_on_its_warning(tmp_path, minilm_path):
    """--strict turns every warning into a failure, this one too (documented)."""
    from mkdocs.exceptions import Abort

    blocker = tmp_path / "blocker"
    blocker.write_text("")
    root = make_site(tmp_path / "project", minilm_path, blocker / "cache", {"index.md": "```attnviz\nHi there.\n```\n"})
    with pytest.raises(Abort):
        mkdocs_build(root, strict=True)
