"""Every interactive view in a real headless Chromium: it draws, its controls change the picture, the
theme follows the embedding page, the CSV/JSON downloads hold the matrix shown, and the console stays clean."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from browser import chromium, console_entries, screenshot_array, wait_for  # noqa: F401
from serving import serve_folder
from mkdocs_attnviz import draw, extract
from mkdocs_attnviz.toolkit.bokeh import bokehjs_files
from mkdocs_attnviz.spec import build_spec

SENTENCE = "The cat sat on the mat because it was tired."


def spec(body=SENTENCE, **options):
    options.setdefault("model", "m")
    return build_spec({k: str(v) for k, v in options.items()}, body)


@pytest.fixture(scope="module")
def pages(tmp_path_factory, minilm_path, tiny_gpt2):
    folder = tmp_path_factory.mktemp("views")
    for rel, src in bokehjs_files().items():
        shutil.copy(src, folder / rel)
    ref = extract.resolve_model(minilm_path, None)
    att = extract.extract(ref, SENTENCE, qk=True)
    pair = extract.extract(ref, "The cat sat on the mat.", "The cat lay on the rug.")
    gref = extract.resolve_model(tiny_gpt2, None, allowed_root=os.path.dirname(tiny_gpt2))
    gpt2 = extract.extract(gref, "The cat sat on the mat because it was tired.")
    made = {}
    for name, a, s in [("heatmap", att, spec()), ("bars", att, spec(view="bars")),
                       ("heads", att, spec(view="heads")), ("model", att, spec(view="model")),
                       ("neuron", att, spec(view="neuron", query="it")),
                       ("pairheads", pair, spec("The cat sat on the mat.", view="heads", pair="The cat lay on the rug.")),
                       ("causal", gpt2, spec(values="false"))]:
        path = folder / f"{name}.html"
        path.write_text(draw.figure_page(a, s), encoding="utf-8")
        made[name] = path
    # an embedding page in the same folder, with mkdocs-material's scheme attribute on its body
    (folder / "host.html").write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body data-md-color-scheme="default">'
                                      '<iframe id="f" src="heatmap.html" style="width:900px;height:600px"></iframe>'
                                      '</body></html>', encoding="utf-8")
    made["folder"] = folder
    return made


@pytest.fixture(scope="module")
def server(pages):
    httpd = serve_folder(pages["folder"])
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def open_view(driver, path, fragment=""):
    console_entries(driver)
    driver.get(path.as_uri() + fragment)
    wait_for(driver, "window.Attnviz?.ready === true || !document.getElementById('attnviz-message').hidden")
    assert driver.execute_script("return document.getElementById('attnviz-message').hidden"), \
        driver.execute_script("return document.getElementById('attnviz-message').textContent")
    settle(driver)


def settle(driver):
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_pixels(driver):
    box = driver.execute_script("const r = document.querySelector('#attnviz-plot canvas').getBoundingClientRect();"
                                "return [r.left, r.top, r.width, r.height];")
    shot = screenshot_array(driver)
    x, y, w, h = (int(v) for v in box)
    return shot[y:y + min(h, shot.shape[0] - y), x:x + w].astype(int)


def change(driver, select_id, value):
    driver.execute_script("const s = document.getElementById(arguments[0]); s.value = arguments[1];"
                          "window.Attnviz.ready = false; s.dispatchEvent(new Event('change'));", select_id, value)
    wait_for(driver, "window.Attnviz?.ready === true")
    settle(driver)


def errors(driver):
    return [e for e in console_entries(driver) if e["level"] in ("SEVERE", "WARNING")]


def differs(a, b, threshold=2.0):
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return np.abs(a[:h, :w] - b[:h, :w]).mean() > threshold


def test_heads_view_draws_filters_toggles_and_hovers(chromium, pages):
    open_view(chromium, pages["heads"])
    state = chromium.execute_script("return window.Attnviz.state()")
    assert state["layer"] == 5 and len(state["heads"]) == 12 and state["lines"] > 50
    before = canvas_pixels(chromium)
    assert before.std() > 20
    change(chromium, "attnviz-layer", "0")
    after = canvas_pixels(chromium)
    assert differs(before, after)
    # toggle a head off with a click, then solo one with a double click
    chromium.find_element("css selector", '.attnviz-swatch[data-head="0"]').click()
    wait_for(chromium, "window.Attnviz.state().heads.length === 11")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(chromium).double_click(chromium.find_element("css selector", '.attnviz-swatch[data-head="3"]')).perform()
    wait_for(chromium, "window.Attnviz.state().heads.length === 1 && window.Attnviz.state().heads[0] === 3")
    solo = chromium.execute_script("return window.Attnviz.state().lines")
    # hovering a token shows only its lines
    chromium.execute_script("window.Attnviz.handle.hover('q', 2)")
    hovered = chromium.execute_script("return window.Attnviz.state()")
    assert hovered["hover"] == {"side": "q", "i": 2} and 0 < hovered["lines"] <= solo
    assert errors(chromium) == []


def test_heads_view_segment_filter(chromium, pages):
    open_view(chromium, pages["pairheads"])
    all_lines = chromium.execute_script("return window.Attnviz.state().lines")
    before = canvas_pixels(chromium)
    counts = {}
    for f in ("aa", "ab", "ba", "bb"):
        change(chromium, "attnviz-filter", f)
        counts[f] = chromium.execute_script("return window.Attnviz.state().lines")
    assert sum(counts.values()) == all_lines and all(counts.values())
    assert differs(before, canvas_pixels(chromium))
    assert errors(chromium) == []


def test_bars_view_switches_query_head_and_chart(chromium, pages):
    open_view(chromium, pages["bars"])
    received = chromium.execute_script("return window.Attnviz.state().values")
    assert len(received) == 13 and abs(sum(received) - 1.0) < 0.05  # column means of row-stochastic rows
    before = canvas_pixels(chromium)
    assert before.std() > 20
    change(chromium, "attnviz-query", "8")
    given = chromium.execute_script("return window.Attnviz.state().values")
    assert abs(sum(given) - 1.0) < 13 / 255 and given != received
    assert differs(before, canvas_pixels(chromium))
    change(chromium, "attnviz-head", "3")
    change(chromium, "attnviz-chart", "line")
    assert chromium.execute_script("return window.Attnviz.state().chart") == "line"
    assert errors(chromium) == []


def test_model_view_enlarges_a_thumbnail(chromium, pages):
    open_view(chromium, pages["model"])
    before = screenshot_array(chromium).astype(int)
    assert chromium.execute_script("return window.Attnviz.state().selected") is None
    canvas = chromium.find_element("css selector", "#attnviz-plot canvas")
    from selenium.webdriver.common.action_chains import ActionChains

    # the thumbnail of layer 1, head 2: left margin 54 px, 20 px header row
    geo = chromium.execute_script("const c = document.querySelector('#attnviz-plot canvas'); return [c.clientWidth, c.clientHeight]")
    thumb = (geo[0] - 54 - 6) / 12
    ActionChains(chromium).move_to_element_with_offset(canvas, int(54 + 2.5 * thumb - geo[0] / 2),
                                                       int(20 + 1.5 * thumb - geo[1] / 2)).click().perform()
    wait_for(chromium, "window.Attnviz.state().selected !== null")
    assert chromium.execute_script("return window.Attnviz.state().selected") == [1, 2]
    settle(chromium)
    assert chromium.execute_script("return document.querySelectorAll('#attnviz-plot canvas').length") == 2
    assert differs(before, screenshot_array(chromium).astype(int), 1.0)
    assert errors(chromium) == []


def test_neuron_view_softmax_matches_the_attention(chromium, pages):
    open_view(chromium, pages["neuron"])
    state = chromium.execute_script("return window.Attnviz.state()")
    assert state["query"] == 8 and state["head"] == 0
    np.testing.assert_allclose(state["softmax"], state["attention"], atol=1 / 255 + 1e-4)
    before = canvas_pixels(chromium)
    change(chromium, "attnviz-head", "5")
    change(chromium, "attnviz-query", "2")
    state = chromium.execute_script("return window.Attnviz.state()")
    np.testing.assert_allclose(state["softmax"], state["attention"], atol=1 / 255 + 1e-4)
    assert differs(before, canvas_pixels(chromium))
    assert errors(chromium) == []


def test_heatmap_values_causal_mask_and_downloads(chromium, pages):
    open_view(chromium, pages["heatmap"])
    n_values = chromium.execute_script(
        "const d = Bokeh.documents[0].get_model_by_name('attnviz-values').data; return d.text.length")
    assert n_values == 13 * 13
    chromium.find_element("css selector", 'button.attnviz-download[data-format="csv"]').click()
    csv = chromium.execute_script("return window.Attnviz.lastDownload")
    lines = csv["text"].strip().split("\r\n")
    assert csv["name"].endswith(".csv") and len(lines) == 14 and lines[0].startswith("query \\ key,[CLS],The,cat")
    row = [float(x) for x in lines[1].split(",")[1:]]
    assert abs(sum(row) - 1) < 0.05
    chromium.find_element("css selector", 'button.attnviz-download[data-format="json"]').click()
    import json

    payload = json.loads(chromium.execute_script("return window.Attnviz.lastDownload.text"))
    assert payload["layer"] == 5 and len(payload["matrix"]) == 13 and payload["rows"][1] == "The"
    assert errors(chromium) == []

    open_view(chromium, pages["causal"])
    masked = chromium.execute_script(
        "const d = Bokeh.documents[0].get_model_by_name('attnviz-mask').data; return d.xs.length")
    assert masked == 1
    assert errors(chromium) == []


def test_cell_numbers_show_only_while_they_fit_their_cells(chromium, pages):
    """13 tokens in a 420 px window: cells ~20 px wide, narrower than "0.58" in 9 px type; the numbers are hidden
    rather than run into each other (seen at 500 px in docs/languages.md), and come back when the window widens or
    the reader zooms in."""
    count = "Bokeh.documents[0].get_model_by_name('attnviz-values').data.text.length"
    size = chromium.get_window_size()
    try:
        chromium.set_window_size(420, 900)
        open_view(chromium, pages["heatmap"])
        wait_for(chromium, f"{count} === 0")
        width = chromium.execute_script("const f = Bokeh.documents[0].get_model_by_name('attnviz-figure');"
                                        "return f.inner_width / 13")
        assert width < 22
        chromium.execute_script("const d = Bokeh.documents[0], x = d.get_model_by_name('attnviz-xrange');"
                                "const y = d.get_model_by_name('attnviz-yrange');"
                                "x.setv({start: 0, end: 4}); y.setv({start: 4, end: 0});")  # zoomed in: 4 × 4 cells
        wait_for(chromium, f"{count} === 13 * 13")
        chromium.set_window_size(1200, 900)
        open_view(chromium, pages["heatmap"])
        wait_for(chromium, f"{count} === 13 * 13")
        assert errors(chromium) == []
    finally:
        chromium.set_window_size(size["width"], size["height"])


def test_theme_follows_the_embedding_page(chromium, pages, server):
    # a fragment (or theme=) wins
    open_view(chromium, pages["bars"], "#theme=dark")
    assert chromium.execute_script("return document.documentElement.getAttribute('data-theme')") == "dark"
    dark = canvas_pixels(chromium)
    assert dark.mean() < 100  # a dark canvas
    # same-origin parent: mkdocs-material's data-md-color-scheme, followed live
    console_entries(chromium)
    chromium.get(server + "host.html")
    chromium.switch_to.frame(chromium.find_element("id", "f"))
    try:
        wait_for(chromium, "window.Attnviz?.ready === true")
        assert chromium.execute_script("return document.documentElement.getAttribute('data-theme')") == "light"
        chromium.execute_script("window.parent.document.body.setAttribute('data-md-color-scheme', 'slate')")
        wait_for(chromium, "document.documentElement.getAttribute('data-theme') === 'dark'")
        bg = chromium.execute_script("return Bokeh.documents[0].get_model_by_name('attnviz-figure').border_fill_color")
        assert bg.lower() == "#1e2029"
    finally:
        chromium.switch_to.default_content()
    assert errors(chromium) == []
