"""PNGs drawn beside the build (``mkdocs_attnviz.pictures``, MkDocs' builder): the very bytes drawn in place, a
figure's entry stored whole only once its PNG is back, its late warnings said at its block, and a worker that dies is
an error naming the block — never a figure without its PNG."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from conftest import MINILM
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.pipeline import ASIDE_AFTER, FigureBuilder
from mkdocs_attnviz.settings import build_settings
from mkdocs_attnviz.spec import build_spec

NO_GLYPH = "\U0010fffd"  # no installed font draws it (tests/test_fonts.py)
#: (options, body) of each block; the last one draws a character no font has (its labels are the tokens given)
BLOCKS = [({}, "The cat sat on the mat."), ({}, "A dog barked at the moon."), ({}, "Birds sing in the early morning."),
          ({}, "Rain fell all night long."), ({"data": "att.npy", "tokens": f"The {NO_GLYPH} cat"}, "")]


def builder(tmp_path: Path, name: str, minilm_path: str, *, aside: bool) -> FigureBuilder:
    np.save(tmp_path / "att.npy", np.full((3, 3), 1 / 3))
    settings = build_settings({"models": {MINILM: minilm_path}, "defaults": {"model": MINILM},
                               "cache_dir": str(tmp_path / name)}, str(tmp_path))
    return FigureBuilder(settings, pictures_aside=aside)


def build(b: FigureBuilder, blocks: list[tuple[dict, str]]):
    return [b.build(build_spec(options, body, defaults=b.settings.defaults), where=("docs/index.md", 5 + 4 * i))
            for i, (options, body) in enumerate(blocks)]


def render_files(b: FigureBuilder) -> dict[str, bytes]:
    root = Path(b.settings.cache_dir) / "render"
    return {p.name: p.read_bytes() for p in sorted(root.glob("*/*"))}


def test_pngs_drawn_aside_are_stored_whole_once_drawn_and_are_the_bytes_drawn_in_place(tmp_path, minilm_path,
                                                                                        caplog):
    assert len(BLOCKS) > ASIDE_AFTER  # the workers start by then even when a model is loaded already
    here = builder(tmp_path, "here", minilm_path, aside=False)
    in_place = build(here, BLOCKS)
    assert here.workers is None
    aside = builder(tmp_path, "aside", minilm_path, aside=True)
    caplog.set_level(logging.WARNING, logger="mkdocs_attnviz")
    figures = build(aside, BLOCKS)
    try:
        assert aside.workers is not None and aside.workers.started == 1
        last = figures[-1]
        assert aside.cache.get_render(last.key) is None  # nothing of it stored while its PNG is drawn
        assert (last.height, last.alt, last.files) == (in_place[-1].height, in_place[-1].alt, in_place[-1].files)
        # the missing glyph is known once the PNG is drawn: said then, at the block's page and line
        assert not [w for w in last.warnings if "no glyph" in w.message]
        assert [w for w in in_place[-1].warnings if "no glyph" in w.message]
        caplog.clear()
        aside.finish()
        said = [r.getMessage() for r in caplog.records if "no glyph" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith("attnviz: docs/index.md:21: option 'font': 1 character(s)"), said
        assert render_files(aside) == render_files(here)  # pages, PNGs, entries (their MACs too): the same bytes
        entry = aside.cache.get_render(last.key)
        assert entry is not None and ".png" in entry["files"]
    finally:
        aside.close()


def test_a_worker_that_dies_is_an_error_naming_the_block_and_nothing_half_stored(tmp_path, minilm_path):
    b = builder(tmp_path, "killed", minilm_path, aside=True)
    figures = build(b, BLOCKS[:ASIDE_AFTER + 1])
    try:
        assert b.workers is not None and b.workers.running
        for warm in b.workers.warm:  # each worker, once it has imported matplotlib; the PNG is drawn next
            os.kill(warm.result(timeout=300), signal.SIGKILL)
        with pytest.raises(AttnvizError) as failed:
            b.finish()
        message = str(failed.value)
        assert message.startswith("docs/index.md:") and "the PNG of this figure could not be drawn" in message
        assert "the process drawing it stopped" in message
        assert b.cache.get_render(figures[-1].key) is None  # not stored: the next build renders it again
        assert not b.workers.running
    finally:
        b.close()
    again = builder(tmp_path, "killed", minilm_path, aside=False)
    [figure] = build(again, BLOCKS[ASIDE_AFTER:ASIDE_AFTER + 1])
    assert not figure.cached and ".png" in again.cache.get_render(figure.key)["files"]


def test_mkdocs_build_draws_its_pngs_in_forked_workers_the_bytes_drawn_in_place(tmp_path, minilm_path):
    """``mkdocs build`` (one thread, no torch yet: the workers are forked) publishes the PNGs drawn in place, and the
    pages made with the document template a worker made."""
    import subprocess
    import sys
    import textwrap

    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    body = "\n".join(f"```attnviz\n{text}\n```\n" for options, text in BLOCKS if not options)
    (root / "docs" / "index.md").write_text(f"# Figures\n\n{body}", encoding="utf-8")
    (root / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: Test
        plugins:
          - attnviz:
              models:
                {MINILM}: {minilm_path}
              defaults:
                model: {MINILM}
              cache_dir: {tmp_path / "forked"}
        """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1",
           "NO_MKDOCS_2_WARNING": "1"}
    code = ("import sys, mkdocs_attnviz.pictures as p\n"
            "start = p.start_method\n"
            "p.start_method = lambda: print('workers:', start(), file=sys.stderr) or start()\n"
            "from mkdocs.__main__ import cli\n"
            "if __name__ == '__main__':\n"
            "    try:\n        cli(['build', '--strict'])\n"
            "    finally:\n        print('bokeh.plotting:', 'bokeh.plotting' in sys.modules, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "workers: fork" in proc.stderr
    # the Bokeh document's template came from the first worker, made while the model loaded: the build never
    # imported Bokeh's plotting, and its pages are the bytes of pages made in place (below)
    assert "bokeh.plotting: False" in proc.stderr
    here = builder(tmp_path, "here", minilm_path, aside=False)
    build(here, [b for b in BLOCKS if not b[0]])
    forked = {p.name: p.read_bytes() for p in sorted((tmp_path / "forked" / "render").glob("*/*"))}
    assert forked == render_files(here) and len([n for n in forked if n.endswith(".png")]) == len(BLOCKS) - 1
    published = {p.name: p.read_bytes() for p in (root / "site" / "assets" / "attnviz").glob("*.png")}
    assert published == {n: b for n, b in forked.items() if n.endswith(".png")}


def test_the_build_draws_the_pngs_no_worker_has_begun_when_its_own_work_is_done(tmp_path, minilm_path, monkeypatch):
    """At finish the build draws the queued PNGs itself, from the last one back (the workers take the first ones):
    the same bytes as drawn in place, every figure stored."""
    from mkdocs_attnviz import pictures, pipeline
    from mkdocs_attnviz.views.heatmap import Heatmap

    monkeypatch.setattr(pictures, "worker_count", lambda: 1)  # one worker: it falls behind the build at once
    monkeypatch.setattr(pipeline, "HELP_FROM", 1)
    blocks = [({}, f"Sentence number {i} is about a {word}.") for i, word in
              enumerate(["cat", "dog", "river", "bank", "tree", "house", "road", "ship", "song", "cloud", "stone"])]
    here = builder(tmp_path, "here", minilm_path, aside=False)
    build(here, blocks)
    aside = builder(tmp_path, "aside", minilm_path, aside=True)
    figures = build(aside, blocks)
    drawn_here: list[int] = []  # PNGs this process draws from now on (the worker was forked before)
    original = Heatmap.picture

    def picture(self, *args, **kwargs):
        drawn_here.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Heatmap, "picture", picture)
    try:
        assert aside.workers is not None and aside.workers.running
        aside.finish()
        assert 0 < len(drawn_here) < len(blocks), drawn_here  # the build helped; the worker drew some too
        assert all(aside.cache.get_render(f.key) is not None for f in figures)
        assert render_files(aside) == render_files(here)
    finally:
        aside.close()
