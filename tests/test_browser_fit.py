"""Frames that fit: on a page with every view, each figure's frame takes its content's height at a phone's, a
tablet's and a desktop's width, in Material and in MkDocs' own theme, read from file:// (the figure pages are of
another origin there: the height travels by postMessage to the embed snippet's listener) and over http (the
figure page sets its frame's height itself); in Sphinx's Alabaster and Furo themes, the head view inside a note; in
Zensical (every figure carried in its page, ``srcdoc``), the head view inside an admonition."""

from __future__ import annotations


import subprocess
import sys
import textwrap

import pytest

from browser import chromium, drawn_in_frame, until, wait_for  # noqa: F401
from serving import serve_folder

pytestmark = pytest.mark.browser

WIDTHS = (380, 820, 1400)

PAGE = '''
# Every view

```attnviz layer="last" head="mean"
The cat sat on the mat because it was tired.
```

```attnviz view="bars" layer="1"
The river bank was muddy after the rain.
```

```attnviz view="heads" layer="2"
The animal did not cross the street because it was too tired.
```

```attnviz view="model"
Time flies like an arrow.
```

```attnviz view="neuron" layer="2" head="3" query="4"
The cat sat on the mat.
```

```attnviz view="summary"
Time flies like an arrow.
```

```attnviz layer="2" head="mean" compare="layer:4"
The cat sat on the mat because it was tired.
```

```attnviz model="gemma2" view="neuron" layer="0" head="1" query="7"
The cat sat on the mat because it was tired.
```
'''

#: the height of every figure's iframe in the host page
HEIGHTS = """
return Array.from(document.querySelectorAll("iframe.attnviz-frame")).map(function (f) {
  return f.getBoundingClientRect().height;
});
"""


@pytest.fixture(scope="module", params=["material", "mkdocs"])
def every_view(request, tmp_path_factory, minilm_path):
    from conftest import Site
    from models import make_tiny_llm

    site = Site(tmp_path_factory.mktemp("fit-" + request.param) / "project", minilm_path)
    make_tiny_llm("gemma2", site.root / "gemma2")
    site.page("index.md", PAGE)
    theme = "theme:\n  name: material\n  font: false" if request.param == "material" else "theme:\n  name: mkdocs"
    site.config(extra=theme, use_directory_urls="false")
    site.build(strict=True)
    return site


def fitted(driver, url: str, width: int) -> list[tuple[float, float]]:
    """``(frame height, content height)`` of every figure of the page at ``url``, ``width`` px wide."""
    driver.set_window_size(width, 900)
    driver.get(url)
    frames = wait_for(driver, "document.querySelectorAll('iframe.attnviz-frame').length === 8 && "
                              "Array.from(document.querySelectorAll('iframe.attnviz-frame'))")
    content = [drawn_in_frame(driver, f, "return Math.ceil(document.querySelector('.attnviz')"
                                         ".getBoundingClientRect().height)") for f in frames]
    # the host page applies what the figures sent (a message each, as they draw): give it up to a second
    until(lambda: all(abs(f - c) <= 1 for f, c in zip(driver.execute_script(HEIGHTS), content)), timeout=1.0)
    return list(zip(driver.execute_script(HEIGHTS), content))


def assert_fit(pairs: list[tuple[float, float]], *where) -> None:
    """Eight figures, each drawn, each frame as tall as its content: no content cut, no empty band."""
    assert len(pairs) == 8
    for index, (frame, content) in enumerate(pairs):
        assert content > 100, (index, pairs)
        assert abs(frame - content) <= 1, (*where, index, pairs)


@pytest.mark.parametrize("how", ["file", "http"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_frame_takes_its_contents_height(chromium, every_view, how, width, tmp_path):
    if how == "file":
        url = (every_view.site / "index.html").as_uri()
        pairs = fitted(chromium, url, width)
    else:
        server = serve_folder(every_view.site)
        try:
            pairs = fitted(chromium, f"http://127.0.0.1:{server.server_address[1]}/index.html", width)
        finally:
            server.shutdown()
    assert_fit(pairs, width, how)
    if how == "file" and width == 820:
        chromium.save_screenshot(str(tmp_path / "fit.png"))


def test_figures_far_from_the_reader_are_released_and_come_back(chromium, every_view):
    """Memory that does not grow with the page: scrolled far past, a figure's document is released (its height
    kept); scrolled back, it loads and draws again."""
    chromium.set_window_size(820, 700)
    chromium.get((every_view.site / "index.html").as_uri())
    frames = wait_for(chromium, "document.querySelectorAll('iframe.attnviz-frame').length === 8 && "
                                "Array.from(document.querySelectorAll('iframe.attnviz-frame'))")
    drawn_in_frame(chromium, frames[0])
    height = chromium.execute_script("return arguments[0].getBoundingClientRect().height", frames[0])
    drawn_in_frame(chromium, frames[-1])  # far below: the first figure is more than two viewports away
    wait_for(chromium, "document.querySelector('iframe.attnviz-frame').hasAttribute('data-attnviz-away')", timeout=5)
    assert chromium.execute_script("return arguments[0].getAttribute('src')", frames[0]) == "about:blank"
    assert chromium.execute_script("return arguments[0].getBoundingClientRect().height", frames[0]) == height
    chromium.execute_script("window.scrollTo(0, 0)")
    wait_for(chromium, "!document.querySelector('iframe.attnviz-frame').hasAttribute('data-attnviz-away')", timeout=5)
    assert drawn_in_frame(chromium, frames[0], "return document.title").startswith("model ")  # drawn again


#: inside a canvas view's page: [x, y] of every pixel of its canvas's two outermost columns on each side, in its top
#: ``arguments[0]`` rows (null: all), that differs from the canvas's top-left pixel (its background)
EDGE_INK = """
var cv = document.querySelector("#attnviz-plot canvas"), w = cv.width, h = arguments[0] || cv.height, out = [];
var px = cv.getContext("2d").getImageData(0, 0, w, h).data, bg = [px[0], px[1], px[2]];
for (var y = 0; y < h; y++) [0, 1, w - 2, w - 1].forEach(function (x) {
  var i = 4 * (y * w + x);
  if (Math.abs(px[i] - bg[0]) + Math.abs(px[i + 1] - bg[1]) + Math.abs(px[i + 2] - bg[2]) > 24) out.push([x, y]);
});
return out;
"""


def test_the_head_views_column_headings_are_not_cut_on_a_phone(chromium, every_view):
    """At 380 px the head view's headings ("Queries (attending)", "Keys (attended)") were drawn past both edges of
    its canvas (half cut): they are moved in, and made smaller if they must, to stay whole."""
    chromium.set_window_size(380, 900)
    chromium.get((every_view.site / "index.html").as_uri())
    frames = wait_for(chromium, "document.querySelectorAll('iframe.attnviz-frame').length === 8 && "
                                "Array.from(document.querySelectorAll('iframe.attnviz-frame'))")
    assert drawn_in_frame(chromium, frames[2], "return document.title").startswith("Head view")
    chromium.switch_to.frame(frames[2])
    try:
        assert chromium.execute_script(EDGE_INK, 24) == []  # over the column headings
    finally:
        chromium.switch_to.default_content()


def test_the_neuron_view_and_head_summary_are_not_cut_on_a_phone(chromium, every_view):
    """At 380 px the neuron view's canvas was wider than its frame (a token column of 110 px, cells of at least
    2 px): the softmax numbers were cut at the right edge; the head summary's cells were 26 px at the least, so its
    last heads and its colour bar were cut. Narrow frames get narrower columns and cells."""
    chromium.set_window_size(380, 900)
    chromium.get((every_view.site / "index.html").as_uri())
    frames = wait_for(chromium, "document.querySelectorAll('iframe.attnviz-frame').length === 8 && "
                                "Array.from(document.querySelectorAll('iframe.attnviz-frame'))")
    for index in (4, 7, 5):  # MiniLM's (head size 32) and the grouped-query model's neuron view, the summary
        title = drawn_in_frame(chromium, frames[index], "return document.title")
        assert title.startswith("Head summary" if index == 5 else "Neuron view"), title
        chromium.switch_to.frame(frames[index])
        try:
            assert chromium.execute_script("return document.querySelector('#attnviz-plot canvas').width <= "
                                           "document.getElementById('attnviz-plot').clientWidth"), title
            assert chromium.execute_script(EDGE_INK, None) == [], title
        finally:
            chromium.switch_to.default_content()


#: each frame: its src, why it was released (attnviz-host.js) and how far below the viewport it is
LAZY = """
return Array.from(document.querySelectorAll("iframe.attnviz-frame")).map(function (f) {
  return [f.getAttribute("src"), f.getAttribute("data-attnviz-why"), f.getBoundingClientRect().top - innerHeight];
});
"""


def test_frames_far_below_load_only_when_the_reader_comes_near(chromium, every_view):
    """From file:// Chromium loads every frame at once (loading="lazy" is ignored there): the host script releases
    the frames more than two viewports below before they load, and loads each when the reader comes near."""
    chromium.set_window_size(820, 700)
    chromium.get((every_view.site / "index.html").as_uri())
    wait_for(chromium, "document.querySelectorAll('iframe.attnviz-frame').length === 8")
    drawn_in_frame(chromium, chromium.find_elements("css selector", "iframe.attnviz-frame")[0])
    chromium.execute_script("window.scrollTo(0, 0)")
    states = chromium.execute_script(LAZY)
    far = [i for i, (_src, _why, below) in enumerate(states) if below > 2 * 700]
    assert far and far[-1] == 7, states
    for i in far:
        assert states[i][:2] == ["about:blank", "lazy"], (i, states)
    assert states[0][0].endswith(".html") and states[0][1] is None, states
    last = chromium.find_elements("css selector", "iframe.attnviz-frame")[7]
    assert drawn_in_frame(chromium, last, "return document.title").startswith("Neuron view: model gemma2")  # near
    assert chromium.execute_script(LAZY)[7][0].endswith(".html")


#: the same eight figures as a Sphinx page (reStructuredText), the head view inside a note
RST = """
Every view
==========

.. attnviz::
   :layer: last
   :head: mean

   The cat sat on the mat because it was tired.

.. attnviz::
   :view: bars
   :layer: 1

   The river bank was muddy after the rain.

.. note::

   .. attnviz::
      :view: heads
      :layer: 2

      The animal did not cross the street because it was too tired.

.. attnviz::
   :view: model

   Time flies like an arrow.

.. attnviz::
   :view: neuron
   :layer: 2
   :head: 3
   :query: 4

   The cat sat on the mat.

.. attnviz::
   :view: summary

   Time flies like an arrow.

.. attnviz::
   :layer: 2
   :head: mean
   :compare: layer:4

   The cat sat on the mat because it was tired.

.. attnviz:: gemma2
   :view: neuron
   :layer: 0
   :head: 1
   :query: 7

   The cat sat on the mat because it was tired.
"""


@pytest.fixture(scope="module", params=["alabaster", "furo"])
def sphinx_every_view(request, tmp_path_factory, minilm_path):
    from models import make_tiny_llm

    if request.param != "alabaster":
        pytest.importorskip(request.param)
    root = tmp_path_factory.mktemp("fit-sphinx-" + request.param)
    make_tiny_llm("gemma2", root / "gemma2")
    (root / "conf.py").write_text(textwrap.dedent(f"""\
        project = "Fit"
        extensions = ["mkdocs_attnviz.sphinx"]
        html_theme = {request.param!r}
        attnviz_models = {{"minilm": {str(minilm_path)!r}, "gemma2": "gemma2"}}
        attnviz_defaults = {{"model": "minilm"}}
        """), encoding="utf-8")
    (root / "index.rst").write_text(RST, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(root), str(root / "_build")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return root / "_build"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_frame_fits_in_sphinx(chromium, sphinx_every_view, width):
    pairs = fitted(chromium, (sphinx_every_view / "index.html").as_uri(), width)
    assert_fit(pairs, width)


#: the same eight figures on a Zensical page, the head view inside an admonition
ZENSICAL_PAGE = PAGE.replace('''```attnviz view="heads" layer="2"
The animal did not cross the street because it was too tired.
```''', '''!!! note "The head view in a note"
    ```attnviz view="heads" layer="2"
    The animal did not cross the street because it was too tired.
    ```''')


@pytest.fixture(scope="module")
def zensical_every_view(tmp_path_factory, minilm_path):
    pytest.importorskip("zensical")
    from models import make_tiny_llm
    from zensical_support import EXTENSIONS, MODEL, Project

    table = f'''
[project.markdown_extensions.attnviz]
models = {{ "{MODEL}" = "models/minilm", "gemma2" = "gemma2" }}
defaults = {{ model = "{MODEL}" }}
'''
    project = Project(tmp_path_factory.mktemp("fit-zensical") / "project", minilm_path, table=table,
                      extensions=EXTENSIONS, pages={"index.md": ZENSICAL_PAGE})
    make_tiny_llm("gemma2", project.root / "gemma2")
    proc = project.build()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project.site


@pytest.mark.parametrize("width", WIDTHS)
def test_every_frame_fits_in_zensical(chromium, zensical_every_view, width):
    pairs = fitted(chromium, (zensical_every_view / "index.html").as_uri(), width)
    assert_fit(pairs, width)
