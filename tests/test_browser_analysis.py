"""The analysis figures (issue 6) in a real headless Chromium: the head summary's grid, hover and click-to-open,
the comparison's three panels and selectors, and rollout / word-level titles on the canvas views."""

from __future__ import annotations

import numpy as np
import pytest

from browser import chromium, console_entries, wait_for  # noqa: F401
from mkdocs_attnviz import draw, extract
from mkdocs_attnviz.spec import build_spec

SENTENCE = "The cat sat on the mat because it was unbelievably tired."


def spec(**options):
    options.setdefault("model", "m")
    return build_spec({k: str(v) for k, v in options.items()}, SENTENCE)


@pytest.fixture(scope="module")
def pages(tmp_path_factory, minilm_path):
    folder = tmp_path_factory.mktemp("analysis")
    att = extract.extract(extract.resolve_model(minilm_path, None), SENTENCE)
    made = {}
    for name, s in [("summary", spec(view="summary")), ("compare", spec(compare="layer:0")),
                    ("rollout_bars", spec(view="bars", aggregate="rollout")),
                    ("word_heads", spec(view="heads", granularity="word"))]:
        path = folder / f"{name}.html"
        path.write_text(draw.figure_page(att, s), encoding="utf-8")
        made[name] = path
    return made


def open_page(driver, path):
    console_entries(driver)
    driver.get(path.as_uri())
    wait_for(driver, "window.Attnviz?.ready === true || !document.getElementById('attnviz-message').hidden")
    assert driver.execute_script("return document.getElementById('attnviz-message').hidden"), \
        driver.execute_script("return document.getElementById('attnviz-message').textContent")


def errors(driver):
    return [e for e in console_entries(driver) if e.get("level") == "SEVERE"]


def canvas_sum(driver, index=0):
    return driver.execute_script(
        "var c = document.querySelectorAll('#attnviz-plot canvas')[arguments[0]];"
        "var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, s = 0;"
        "for (var i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s;", index)


def hover(driver, css, x, y, index=0):
    driver.execute_script(
        "var c = document.querySelectorAll(arguments[0])[arguments[3]], r = c.getBoundingClientRect();"
        "c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + arguments[1], clientY: r.top + arguments[2], bubbles: true}));",
        css, x, y, index)
    return driver.execute_script("var t = document.getElementById('attnviz-tip'); return t.hidden ? null : t.textContent;")


def test_summary_grid_hover_click_and_metric(chromium, pages):
    open_page(chromium, pages["summary"])
    assert chromium.execute_script("return window.Attnviz.state()")["metric"] == "entropy"
    before = canvas_sum(chromium)
    tip = hover(chromium, "#attnviz-plot canvas", 58 + 3 * 40 + 5, 22 + 2 * 30 + 5)
    assert tip and "Layer2" in tip.replace(" ", "") and "Entropy / log n" in tip and "To the previous token" in tip
    chromium.execute_script("window.Attnviz.handle.select(2, 3)")
    wait_for(chromium, "window.Attnviz?.ready === true && window.Attnviz.state().selected !== null")
    assert chromium.execute_script("return document.querySelectorAll('#attnviz-plot canvas').length") == 2
    assert "opened: layer 2, head 3" in chromium.execute_script("return document.title")
    sel = chromium.find_element("id", "attnviz-metric")
    chromium.execute_script("arguments[0].value = 'distance'; arguments[0].dispatchEvent(new Event('change'))", sel)
    wait_for(chromium, "window.Attnviz.state().metric === 'distance'")
    assert canvas_sum(chromium) != before
    assert not errors(chromium)


def test_compare_panels_share_a_scale_and_follow_the_selectors(chromium, pages):
    open_page(chromium, pages["compare"])
    state = chromium.execute_script("return window.Attnviz.state()")
    assert state["panels"] == 3 and state["same_tokens"] and state["a"]["layer"] == 5 and state["b"]["layer"] == 0
    m = chromium.execute_script("var m = window.Attnviz.handle.matrices; return [Array.from(m.a), Array.from(m.b)]")
    a, b = np.array(m[0]), np.array(m[1])
    assert abs(state["top"] - max(a.max(), b.max())) < 1e-6 and abs(state["dmax"] - np.abs(a - b).max()) < 1e-6
    before = canvas_sum(chromium)
    sel = chromium.find_element("id", "attnviz-b-layer")
    chromium.execute_script("arguments[0].value = '3'; arguments[0].dispatchEvent(new Event('change'))", sel)
    wait_for(chromium, "window.Attnviz?.ready === true && window.Attnviz.state().b.layer === 3")
    assert canvas_sum(chromium) != before and "layer 3 of 6" in chromium.execute_script("return document.title")
    assert not errors(chromium)


def test_rollout_and_word_titles_on_canvas_views(chromium, pages):
    open_page(chromium, pages["rollout_bars"])
    title = chromium.execute_script("return document.title")
    assert "rollout up to layer 5 of 6" in title and "residual" in title
    open_page(chromium, pages["word_heads"])
    assert "words from 18 tokens" in chromium.execute_script("return document.title")
    labels = chromium.execute_script("return window.Attnviz.data.sets.self.q.labels")
    assert "unbelievably" in labels
    assert not errors(chromium)


#: the text width of each option of a select in its own font, and the room the select gives its chosen option
OPTION_ROOM = """
var sel = arguments[0], cs = getComputedStyle(sel), ctx = document.createElement("canvas").getContext("2d");
ctx.font = cs.font;
var room = sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;  // 16: the arrow
return Array.from(sel.options).map(function (o) { return [o.textContent, ctx.measureText(o.textContent).width, room]; });
"""


@pytest.mark.parametrize("width", [380, 1000])
def test_the_summary_statistic_select_shows_each_label_whole(chromium, pages, width):
    """The "Statistic" select is as wide as its longest label (it was cut at 7em: "Mean distance (to…")."""
    chromium.set_window_size(width, 900)
    try:
        open_page(chromium, pages["summary"])
        sel = chromium.find_element("id", "attnviz-metric")
        rows = chromium.execute_script(OPTION_ROOM, sel)
        assert len(rows) == 8
        cut = [(text, round(need), round(room)) for text, need, room in rows if need > room]
        assert not cut, cut
        assert chromium.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        chromium.set_window_size(1000, 900)
