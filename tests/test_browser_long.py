"""In a real headless Chromium, from ``file://``: a long input's heatmap (scaled down) paints after loading one side
file, zooms into a token range (the visible cells drawn one by one, the ticks of the visible tokens), switches heads,
and works from one file with its side data inside; the neuron view of today's architectures computes the model's
softmax in the page (grouped-query key/value head, sliding window, ALiBi bias, T5 cross attention)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from browser import chromium, console_errors, requested_urls, screenshot_array, wait_for  # noqa: F401
from mkdocs_attnviz import attention, draw, extract
from mkdocs_attnviz.pipeline import FigureBuilder
from mkdocs_attnviz.settings import Settings
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.toolkit.bokeh import bokehjs_files
from mkdocs_attnviz.views import longinput

TEXT = "The cat sat on the mat because it was tired. The dog chased the cat around the garden."


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    from models import make_tiny_llm, make_tiny_t5

    root = tmp_path_factory.mktemp("browser-llms")
    made = {kind: make_tiny_llm(kind, root / kind) for kind in ("mistral", "bloom")}
    made["t5"] = make_tiny_t5(root / "t5")
    return made


@pytest.fixture(scope="module")
def long_site(tmp_path_factory, models_dir):
    """A published long figure (side files beside it) and the same figure as one file with its data inside."""
    patch = pytest.MonkeyPatch()
    patch.setattr(attention, "LONG_TOKENS", 8)
    patch.setattr(longinput, "FULL_TOKENS", 16)
    patch.setattr(longinput, "OVERVIEW_CELLS", 8)
    patch.setattr(longinput, "DETAIL_TOKENS", 12)
    try:
        root = tmp_path_factory.mktemp("long-site")
        builder = FigureBuilder(Settings(cache_dir=str(root / "cache"), models={"m": models_dir["mistral"]}))
        spec = build_spec({"model": "m", "head": "mean"}, TEXT)
        fig = builder.build(spec)
        builder.publish(root / "site")
        alone = root / "alone"
        alone.mkdir()
        for name, src in bokehjs_files().items():
            shutil.copy(src, alone / name)
        (alone / "figure.html").write_text(draw.figure_page(builder.attention(spec)[1], spec), encoding="utf-8")
        return {"page": root / "site" / f"{fig.key}.html", "key": fig.key, "alone": alone / "figure.html"}
    finally:
        patch.undo()


def open_page(driver, path):
    console_errors(driver)
    requested_urls(driver)
    driver.get(path.as_uri())
    wait_for(driver, "window.Attnviz?.ready === true || !document.getElementById('attnviz-message').hidden")
    assert driver.execute_script("return document.getElementById('attnviz-message').hidden"), \
        driver.execute_script("return document.getElementById('attnviz-message').textContent")


def side_requests(driver, key):
    return sorted(u.rsplit("/", 1)[-1] for u in requested_urls(driver) if f"{key}.l" in u)


def test_long_heatmap_paints_from_one_side_file_and_zooms(chromium, long_site):
    key = long_site["key"]
    open_page(chromium, long_site["page"])
    assert side_requests(chromium, key) == [f"{key}.l1.mean.o.js"]  # the overview of the initial layer and heads
    view = chromium.execute_script("return Attnviz.view()")
    assert view["scale"] > 1 and not view["detail"]
    assert screenshot_array(chromium).std() > 10
    # zoom with the token inputs: the visible cells, one by one, and only the visible tokens' labels
    chromium.execute_script("""
        var a = document.getElementById('attnviz-from'), b = document.getElementById('attnviz-to');
        a.value = 3; b.value = 12; b.dispatchEvent(new Event('change'));""")
    wait_for(chromium, "Attnviz.view().detail === true")
    view = chromium.execute_script("return Attnviz.view()")
    assert (view["x0"], view["y0"], view["width"], view["height"], view["scale"]) == (3, 3, 9, 9, 1)
    assert view["ticks"] == 9
    assert side_requests(chromium, key) == [f"{key}.l1.mean.js"]
    # switching heads keeps the zoom and loads that head's files only
    chromium.execute_script("var s = document.getElementById('attnviz-head'); s.value = '2';"
                            "s.dispatchEvent(new Event('change'));")
    wait_for(chromium, "Attnviz.view().head === 2")
    assert chromium.execute_script("return Attnviz.view().detail") is True
    assert side_requests(chromium, key) == [f"{key}.l1.2.js", f"{key}.l1.2.o.js"]
    chromium.execute_script("Attnviz.zoom(0, 1000)")  # back out: the overview again
    wait_for(chromium, "Attnviz.view().detail === false")
    assert console_errors(chromium) == []


def test_long_heatmap_as_one_file(chromium, long_site):
    open_page(chromium, long_site["alone"])
    assert [u for u in requested_urls(chromium) if u.endswith(".js") and "bokeh" not in u] == []
    chromium.execute_script("Attnviz.zoom(0, 10)")
    wait_for(chromium, "Attnviz.view().detail === true")
    assert console_errors(chromium) == []


@pytest.mark.parametrize("kind, options, checks", [
    ("mistral", {"layer": "0", "head": "3", "query": "-1"}, {"kv_head": 1, "window": True}),
    ("bloom", {"layer": "1", "head": "1", "query": "-1"}, {"kv_head": 1, "window": False}),
    ("t5", {"layer": "1", "head": "2", "query": "2", "attention": "cross"}, {"kv_head": 2, "window": False}),
])
def test_neuron_view_softmax_in_the_page(chromium, tmp_path, models_dir, kind, options, checks):
    path = models_dir[kind]
    ref = extract.resolve_model(path, None, allowed_root=str(tmp_path.parent.parent))
    att = extract.extract(ref, TEXT, qk=True, target="The dog sat on the mat." if kind == "t5" else None)
    page = tmp_path / "neuron.html"
    page.write_text(draw.figure_page(att, build_spec({"model": "m", "view": "neuron", **options}, TEXT)),
                    encoding="utf-8")
    open_page(chromium, page)
    state = chromium.execute_script("return window.Attnviz.state()")
    assert state["kv_head"] == checks["kv_head"]
    np.testing.assert_allclose(state["softmax"], state["attention"], atol=1 / 255)
    assert ("window" in state["masked"]) is checks["window"]
    assert abs(sum(state["softmax"]) - 1) < 1e-5
    assert console_errors(chromium) == []
