"""The Sphinx extension through ``sphinx.testing``: html, dirhtml, latex, text, singlehtml, epub, MyST,
``-j 2`` equal to ``-j 1``, purge of removed documents, located and typed warnings.

Test roots live in ``tests/roots/test-attnviz-*``; each test copies its root into a temporary folder.
All tests of the module share one attnviz cache, so the model runs once per distinct block.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

pytest.importorskip("sphinx")

from sphinx.errors import ExtensionError, SphinxError  # noqa: E402

pytest_plugins = ("sphinx.testing.fixtures",)

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ROOTS = Path(__file__).parent / "roots"
KEY_FILE = re.compile(r"^[0-9a-f]{32}\.(html|png)$")


@pytest.fixture(scope="session")
def rootdir() -> Path:
    return ROOTS


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sphinx-attnviz-cache")


@pytest.fixture
def build(make_app, tmp_path, shared_cache, minilm_path):
    """``build(root, builder="html", parallel=0, srcname=None, **confoverrides)`` → the built app."""

    def run(root: str, builder: str = "html", *, parallel: int = 0, srcname: str | None = None,
            outname: str | None = None, **overrides):
        src = tmp_path / (srcname or root)
        if not src.exists():
            shutil.copytree(ROOTS / f"test-{root}", src)
        conf = {"attnviz_cache_dir": str(shared_cache), "attnviz_models": {MODEL: minilm_path}, **overrides}
        app = make_app(builder, srcdir=src, builddir=tmp_path / (outname or f"_build-{root}"),
                       confoverrides=conf, parallel=parallel)
        try:
            app.build()
        finally:
            app.cleanup()  # several apps in one test: give docutils' registries back
        return app

    return run


def warnings_of(app) -> str:
    """The attnviz warnings of a build (Sphinx's own are left out)."""
    return "\n".join(line for line in app.warning.getvalue().splitlines() if "attnviz" in line and
                     "while setting up extension" not in line)


def resolve(page: Path, outdir: Path, src: str) -> Path:
    url = urljoin("http://h/" + page.relative_to(outdir).as_posix(), src)
    return outdir / urlparse(url).path.lstrip("/")


def iframes(html: str) -> list[str]:
    return re.findall(r'<iframe class="attnviz-frame" src="([^"]+)"', html)


def figure_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if KEY_FILE.match(p.name)} if folder.is_dir() else set()


@pytest.mark.parametrize("builder, pages", [
    ("html", ["index.html", "guide/deep/page.html"]),
    ("dirhtml", ["index.html", "guide/deep/page/index.html"]),
])
def test_html_embeds_iframe_with_relative_links(build, builder, pages):
    app = build("attnviz-basic", builder)
    assert warnings_of(app) == ""
    out = Path(app.outdir)
    for name in pages:
        page = out / name
        html = page.read_text(encoding="utf-8")
        srcs = iframes(html)
        assert len(srcs) == 1, name
        assert not srcs[0].startswith(("/", "http")), srcs[0]
        figure = resolve(page, out, srcs[0])
        assert figure.is_file() and figure.parent == out / "_attnviz"
        png = re.search(r'<img class="attnviz-print" src="([^"]+)"', html).group(1)
        assert resolve(page, out, png).is_file()
        css = re.search(r'<link[^>]+href="([^"]*_static/attnviz\.css)"', html).group(1)
        assert resolve(page, out, css).is_file()
        data = re.search(r'id="attnviz-data">(.*?)</script>', figure.read_text(encoding="utf-8")).group(1)
        bokeh = json.loads(data)["bokehjs"]["src"].split("?")[0]  # loaded when the figure's turn to draw comes
        assert resolve(figure, out, bokeh).is_file()
    # the caption names what is shown; the static figure is not duplicated into _images
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Mean of heads" in index and "layer 5 of 6 (last), mean of 12 heads" in index
    assert not (out / "_images").exists()
    # assets copied once: one BokehJS, two figures (html + png each)
    assert [p.relative_to(out).as_posix() for p in out.rglob("bokeh*.js")] == ["_attnviz/bokeh.min.js"]
    assert len(figure_files(out / "_attnviz")) == 4
    genindex = next(p for p in out.rglob("*.html") if "genindex" in p.relative_to(out).as_posix())
    assert "attnviz.css" not in genindex.read_text(encoding="utf-8")  # the stylesheet only where used


def test_latex_gets_png_figures_with_captions(build):
    app = build("attnviz-basic", "latex")
    out = Path(app.outdir)
    tex = (out / "attnviz-basic.tex").read_text(encoding="utf-8")
    pngs = re.findall(r"\\sphinxincludegraphics(?:\[[^]]*\])?\{\{([0-9a-f]{32})\}\.png\}", tex)
    assert len(pngs) == 2
    for key in pngs:
        assert (out / f"{key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r"\caption{Mean of heads (model sentence" in tex
    assert "head 3 of 12" in tex
    assert "iframe" not in tex


def test_text_gets_image_and_caption(build):
    app = build("attnviz-basic", "text")
    text = (Path(app.outdir) / "index.txt").read_text(encoding="utf-8")
    assert "[image: Attention heatmap of model" in text
    assert "Mean of heads (model" in " ".join(text.split())
    deep = " ".join((Path(app.outdir) / "guide/deep/page.txt").read_text(encoding="utf-8").split())
    assert "layer 0 of 6, head 3 of 12" in deep


@pytest.mark.parametrize("builder", ["singlehtml", "epub"])
def test_singlehtml_and_epub_get_png_figures(build, builder):
    app = build("attnviz-basic", builder)
    out = Path(app.outdir)
    pages = [p for p in out.rglob("*") if p.suffix in (".html", ".xhtml") and ".doctrees" not in p.parts]
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "<iframe" not in text
    imgs = re.findall(r'<img[^>]+src="([^"]*[0-9a-f]{32}\.png)"', text)
    assert len(imgs) == 2
    for page in pages:
        for src in re.findall(r'<img[^>]+src="([^"]*[0-9a-f]{32}\.png)"', page.read_text(encoding="utf-8")):
            assert resolve(page, out, src).is_file()
    assert "Mean of heads" in text


def test_myst_markdown(build):
    pytest.importorskip("myst_parser")
    app = build("attnviz-myst", "html")
    assert warnings_of(app) == ""
    out = Path(app.outdir)
    index = (out / "index.html").read_text(encoding="utf-8")
    deep = (out / "sub/page.html").read_text(encoding="utf-8")
    assert len(iframes(index)) == len(iframes(deep)) == 1
    assert iframes(deep)[0].startswith("../_attnviz/")
    assert "Mean of heads" in index and "layer 5 of 6 (last), mean of 12 heads" in index
    assert "layer 0 of 6, head 3 of 12" in deep  # options from the YAML block


def site_files(outdir: Path) -> dict[str, bytes]:
    skip = {".doctrees", ".buildinfo"}
    return {p.relative_to(outdir).as_posix(): p.read_bytes() for p in sorted(outdir.rglob("*"))
            if p.is_file() and not skip.intersection(p.relative_to(outdir).parts)}


def test_parallel_build_equals_serial(build):
    serial = build("attnviz-parallel", "html", parallel=1, outname="serial")
    parallel = build("attnviz-parallel", "html", parallel=2, outname="parallel")
    assert parallel.parallel == 2 and parallel.is_parallel_allowed("read") and parallel.is_parallel_allowed("write")
    assert warnings_of(parallel) == ""
    assert sorted(parallel.env.attnviz_figures) == [f"doc{i}" for i in range(1, 7)]  # merged from the workers
    one, two = site_files(Path(serial.outdir)), site_files(Path(parallel.outdir))
    assert sorted(one) == sorted(two)
    assert len(figure_files(Path(parallel.outdir) / "_attnviz")) == 12
    different = [name for name in one if one[name] != two[name]]
    assert different == []


def test_removing_a_document_removes_its_figures(build, tmp_path):
    app = build("attnviz-basic", "html", srcname="purge")
    out = Path(app.outdir)
    deep_key = re.search(r'data-attnviz="([0-9a-f]{32})"',
                         (out / "guide/deep/page.html").read_text(encoding="utf-8")).group(1)
    assert f"{deep_key}.html" in figure_files(out / "_attnviz")
    src = tmp_path / "purge"
    (src / "guide/deep/page.rst").unlink()
    (src / "index.rst").write_text((src / "index.rst").read_text(encoding="utf-8")
                                   .replace("   guide/deep/page\n", ""), encoding="utf-8")
    again = build("attnviz-basic", "html", srcname="purge")
    assert "guide/deep/page" not in again.env.attnviz_figures
    assert list(again.env.attnviz_figures) == ["index"]
    left = figure_files(Path(again.outdir) / "_attnviz")
    assert len(left) == 2 and f"{deep_key}.html" not in left and f"{deep_key}.png" not in left
    assert not (Path(again.doctreedir) / "attnviz" / f"{deep_key}.png").exists()


def test_config_change_reads_again(build):
    first = build("attnviz-basic", "html", srcname="reread")
    before = (Path(first.outdir) / "guide/deep/page.html").read_text(encoding="utf-8")
    again = build("attnviz-basic", "html", srcname="reread",
                  attnviz_defaults={"model": MODEL, "special_tokens": "hide"})
    after = (Path(again.outdir) / "guide/deep/page.html").read_text(encoding="utf-8")
    assert "special tokens hidden" not in before and "special tokens hidden" in after


BAD = """\
Bad blocks
==========

.. attnviz::
   :colour: red

   The cat.

.. attnviz::
   :layer: 99

   The cat.

.. attnviz::

.. attnviz:: nobody/nothing-here

   The cat.
"""


def add_bad_page(tmp_path, srcname):
    src = tmp_path / srcname
    shutil.copytree(ROOTS / "test-attnviz-basic", src)
    (src / "bad.rst").write_text(BAD, encoding="utf-8")
    (src / "index.rst").write_text((src / "index.rst").read_text(encoding="utf-8") + "   bad\n", encoding="utf-8")


def test_bad_directives_warn_with_document_line_and_type(build, tmp_path):
    add_bad_page(tmp_path, "bad")
    app = build("attnviz-basic", "html", srcname="bad")
    text = warnings_of(app)
    for line, words, subtype in [(4, "option 'colour': unknown option", "option"),
                                 (9, "option 'layer': layer 99 is out of range", "option"),
                                 (14, "option 'text': the block has no sentence", "option"),
                                 (16, "option 'model':", "model")]:
        assert re.search(rf"bad\.rst:{line}: WARNING: attnviz: {re.escape(words)}.*\[attnviz\.{subtype}\]", text), text
    html = (Path(app.outdir) / "bad.html").read_text(encoding="utf-8")
    assert html.count('class="attnviz-error') == 4 and "this figure could not be built" in html
    # the good pages are still built
    assert len(iframes((Path(app.outdir) / "index.html").read_text(encoding="utf-8"))) == 1


def test_bad_directives_suppressed_and_in_text_builder(build, tmp_path):
    add_bad_page(tmp_path, "quiet")
    app = build("attnviz-basic", "text", srcname="quiet", suppress_warnings=["attnviz"])
    assert warnings_of(app) == ""
    text = (Path(app.outdir) / "bad.txt").read_text(encoding="utf-8")
    assert text.count("attnviz: this figure could not be built") == 4


def test_warnings_as_errors_fail_the_build(make_app, tmp_path, shared_cache, minilm_path):
    add_bad_page(tmp_path, "strict")
    app = make_app("html", srcdir=tmp_path / "strict", builddir=tmp_path / "_build-strict",
                   confoverrides={"attnviz_cache_dir": str(shared_cache), "attnviz_models": {MODEL: minilm_path}},
                   warningiserror=True)
    app.build()  # Sphinx ≥ 8.1 finishes the build and then fails it (no exception)
    assert app.statuscode == 1
    assert re.search(r"bad\.rst:4: (WARNING|ERROR): attnviz: option 'colour': unknown option", app.warning.getvalue())


def test_on_error_fail_stops_the_build(build, tmp_path):
    add_bad_page(tmp_path, "fail")
    with pytest.raises(ExtensionError, match=r"bad\.rst:4: option 'colour': unknown option"):
        build("attnviz-basic", "html", srcname="fail", attnviz_on_error="fail")


def test_bad_config_value_is_a_config_error(make_app, tmp_path):
    shutil.copytree(ROOTS / "test-attnviz-basic", tmp_path / "conf")
    with pytest.raises(SphinxError, match="attnviz_resources"):
        make_app("html", srcdir=tmp_path / "conf", confoverrides={"attnviz_resources": "nowhere"})


def test_collect_only_records_the_blocks_on_the_environment_across_parallel_readers(build, tmp_path):
    """``attnviz_collect_only`` (set by the ``attnviz`` command): the directive builds nothing and records every
    block, spec or error with its option, on ``env.attnviz_collected``, merged from the parallel readers."""
    from mkdocs_attnviz.sphinx import collected

    src = tmp_path / "collect"
    shutil.copytree(ROOTS / "test-attnviz-parallel", src)
    with open(src / "doc6.rst", "a", encoding="utf-8") as fh:
        fh.write("\n.. attnviz::\n   :head: twelve\n\n   A bad head.\n")
    cache = tmp_path / "collect-cache"
    app = build("attnviz-parallel", "html", srcname="collect", outname="_build-collect", parallel=2,
                attnviz_collect_only=True, attnviz_cache_dir=str(cache))
    assert app.is_parallel_allowed("read") and warnings_of(app) == ""
    blocks = collected(app.env)
    assert sorted(app.env.attnviz_collected) == [f"doc{i}" for i in range(1, 7)]  # merged from the workers
    assert len(blocks) == 7 and [(b.spec.layer, b.spec.head) for b in blocks if b.spec and b.file.endswith("doc6.rst")] == [(5, 5)]
    bad = [b for b in blocks if b.spec is None]
    line = (src / "doc6.rst").read_text(encoding="utf-8").splitlines().index(".. attnviz::", 6) + 1
    assert len(bad) == 1 and Path(bad[0].file) == src / "doc6.rst" and bad[0].line == line
    assert str(bad[0].error()).startswith("option 'head': expected a head number")  # the option survives pickling
    assert app.env.attnviz_figures == {} and not cache.exists()  # nothing was built


def test_long_figures_publish_and_purge_their_side_files(build, tmp_path, monkeypatch):
    from mkdocs_attnviz import attention

    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    app = build("attnviz-basic", "html", srcname="long")
    out = Path(app.outdir) / "_attnviz"
    deep_key = re.search(r'data-attnviz="([0-9a-f]{32})"',
                         (Path(app.outdir) / "guide/deep/page.html").read_text(encoding="utf-8")).group(1)
    assert len(list(out.glob(f"{deep_key}.l*.js"))) == 6 * 14  # MiniLM: 6 layers × (12 heads, mean, max)
    src = tmp_path / "long"
    (src / "guide/deep/page.rst").unlink()
    (src / "index.rst").write_text((src / "index.rst").read_text(encoding="utf-8")
                                   .replace("   guide/deep/page\n", ""), encoding="utf-8")
    again = build("attnviz-basic", "html", srcname="long")
    assert not list(out.glob(f"{deep_key}.*")) and len(list(out.glob("*.l*.js"))) == 6 * 14
    assert not list((Path(again.doctreedir) / "attnviz").glob(f"{deep_key}.*"))


def test_sphinx_refuses_cache_dir_inside_outdir_or_static_path(make_app, tmp_path):
    """issue 17, item 4: the output folder and the folders Sphinx copies into it whole may not hold the cache."""
    shutil.copytree(ROOTS / "test-attnviz-basic", tmp_path / "src")
    with pytest.raises(SphinxError, match=r"attnviz_cache_dir' \(out/html/c\) is inside outdir \(out/html\)"):
        make_app("html", srcdir=tmp_path / "src", builddir=tmp_path / "src/out",
                 confoverrides={"attnviz_cache_dir": "out/html/c"}).build()
    (tmp_path / "src/_static").mkdir()
    with pytest.raises(SphinxError, match=r"attnviz_cache_dir' \(_static/c\) is inside html_static_path \(_static\)"):
        make_app("html", srcdir=tmp_path / "src", builddir=tmp_path / "build",
                 confoverrides={"attnviz_cache_dir": "_static/c", "html_static_path": ["_static"]}).build()


CUT = """Cut
===

.. attnviz:: sentence-transformers/all-MiniLM-L6-v2
   :max_tokens: 5

   The cat sat on the mat because it was tired.
"""


@pytest.mark.parametrize("suppress", [None, ["attnviz.max_tokens"]])
def test_a_cut_sentence_warns_with_the_type_of_its_option(build, tmp_path, suppress):
    """A sentence cut at max_tokens is a built figure with something to say, typed by the option it names
    (``attnviz.max_tokens``, as docs/sphinx.md lists it), and silenced by that type alone."""
    src = tmp_path / "cut"
    shutil.copytree(ROOTS / "test-attnviz-basic", src)
    (src / "cut.rst").write_text(CUT, encoding="utf-8")
    (src / "index.rst").write_text((src / "index.rst").read_text(encoding="utf-8") + "   cut\n", encoding="utf-8")
    overrides = {"suppress_warnings": suppress} if suppress else {}
    app = build("attnviz-basic", "html", srcname="cut", **overrides)
    text = warnings_of(app)
    if suppress:
        assert text == ""
    else:
        assert re.search(r"cut\.rst:4: WARNING: attnviz: option 'max_tokens': the input has 13 tokens; only "
                         r"the first 5 are shown \(max_tokens=5\) \[attnviz\.max_tokens\]", text), text
    assert len(iframes((Path(app.outdir) / "cut.html").read_text(encoding="utf-8"))) == 1


def test_sphinx_autobuild_edits_run_on_quick_previews_where_asked(build, tmp_path, monkeypatch, minilm_path):
    """``ATTNVIZ_PREVIEWS=on`` (for ``sphinx-autobuild``, which runs a new ``sphinx-build`` for each edit): a build
    whose sentence no preview can run yet runs PyTorch, then exports the model's preview; the next build process runs
    an edited sentence on it (onnxruntime, keyed apart from PyTorch's); a build without the variable runs PyTorch on
    that very sentence."""
    from mkdocs_attnviz import extract, machine
    from mkdocs_attnviz.extract.preview import Previews
    from mkdocs_attnviz.sphinx import builder_for

    src = tmp_path / "autobuild"
    shutil.copytree(ROOTS / "test-attnviz-basic", src)
    shutil.rmtree(src / "guide")

    def edit(sentence: str, out: str):
        (src / "index.rst").write_text(f"Home\n====\n\n.. attnviz:: {MODEL}\n\n   {sentence}\n", encoding="utf-8")
        before = extract.STATS["forwards"]
        app = build("attnviz-basic", srcname="autobuild", outname=out)
        return app, builder_for(app.config).stats, extract.STATS["forwards"] - before

    ref = extract.resolve_model(MODEL, None, models={MODEL: minilm_path})
    monkeypatch.setenv(machine.PREVIEWS_ENV, "on")
    app, stats, forwards = edit("The river bank was muddy after the long storm.", "first")
    assert (stats["extractions"], stats["previews"], forwards) == (1, 0, 1)  # no preview yet: PyTorch
    assert "exported for quick previews" in app._status.getvalue()
    assert Previews(machine.previews_dir()).has(ref)

    app, stats, forwards = edit("The river bank was dry after the long summer.", "second")
    assert (stats["extractions"], stats["previews"], forwards) == (1, 1, 0), stats  # onnxruntime, no PyTorch forward
    assert "1 sentence run by this machine's quick preview (onnxruntime)" in app._status.getvalue()
    previewed = builder_for(app.config).previewing.keys
    assert builder_for(app.config).cache.get_attention(previewed[0]).meta["engine"] == "onnxruntime"
    note = "quick preview by onnxruntime (a build without previews runs PyTorch)"
    assert note in (Path(app.outdir) / "index.html").read_text(encoding="utf-8")  # the figure says what ran it

    monkeypatch.delenv(machine.PREVIEWS_ENV)
    app, stats, forwards = edit("The river bank was dry after the long summer.", "publish")
    assert (stats["extractions"], stats["previews"], forwards) == (1, 0, 1)  # the preview's record is never found
    assert "quick preview" not in app._status.getvalue()
    assert note not in (Path(app.outdir) / "index.html").read_text(encoding="utf-8")
