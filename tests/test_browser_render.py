"""The figure page in a real headless Chromium, opened from file:// with BokehJS copied next to it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from browser import (chromium, console_entries, console_errors, requested_urls,  # noqa: F401
                     screenshot_array, wait_for)
from mkdocs_attnviz import draw
from mkdocs_attnviz.toolkit.bokeh import bokehjs_files
from mkdocs_attnviz.views.heatmap import gap
from test_heatmap import HOSTILE, make_attention, spec


def write_page(folder, name, att, s, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    for rel, src in bokehjs_files().items():
        if not (folder / rel).exists():
            shutil.copy(src, folder / rel)
    path = folder / f"{name}.html"
    path.write_text(draw.figure_page(att, s, **kw), encoding="utf-8")
    return path


def open_page(driver, path):
    console_entries(driver)  # drop what earlier pages logged
    requested_urls(driver)
    driver.get(path.as_uri())
    wait_for(driver, "window.Attnviz?.ready === true || document.getElementById('attnviz-message').hidden === false")
    assert driver.execute_script("return document.getElementById('attnviz-message').hidden"), \
        driver.execute_script("return document.getElementById('attnviz-message').textContent")
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def frame_pixels(driver):
    """Screenshot of the heatmap frame only (RGB uint8)."""
    box = driver.execute_script("return window.Attnviz.frame()")
    shot = screenshot_array(driver)
    x0, y0 = int(box["x"]) + 1, int(box["y"]) + 1
    return shot[y0:y0 + int(box["height"]) - 2, x0:x0 + int(box["width"]) - 2]


def set_select(driver, which, value):
    """Pick an option the way a user does (the page listens to 'change') and wait for the redraw."""
    driver.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "window.Attnviz.ready = false; s.dispatchEvent(new Event('change'));", f"attnviz-{which}", value)
    wait_for(driver, "window.Attnviz?.ready === true")
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def hover_at(driver, x, y):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()


def test_page_draws_switches_and_stays_safe(chromium, tmp_path):
    labels = ["[CLS]"] + HOSTILE + ["word", "[SEP]"]
    att = make_attention(n=len(labels), layers=3, heads=4, labels=labels)
    s = spec(caption="</script><script>window.__pwned=1</script>", text="<img src=x onerror=window.__pwned=1>",
             head=0)
    page = write_page(tmp_path / "assets", "fig", att, s)
    open_page(chromium, page)
    errors = [e for e in console_entries(chromium) if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert chromium.execute_script("return window.__pwned") is None
    assert chromium.title == draw.describe(att, s)
    header = chromium.find_element("id", "attnviz-title").text
    assert header == draw.describe(att, s)

    view = chromium.execute_script("return window.Attnviz.view()")
    assert view["layer"] == 2 and view["head"] == 0 and view["width"] == len(labels)
    expected_max = float(np.round(att.weights[2, 0] * 255).max() / 255)
    assert view["max"] == pytest.approx(expected_max, abs=1e-6)

    before = frame_pixels(chromium)
    assert before.std() > 20  # a real picture, not a blank canvas
    assert before.shape[0] > 150 and before.shape[1] > 150

    set_select(chromium, "head", "2")
    view = chromium.execute_script("return window.Attnviz.view()")
    assert view["head"] == 2
    after = frame_pixels(chromium)
    assert after.shape == before.shape
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 5  # the picture changed
    assert chromium.find_element("id", "attnviz-title").text == draw.describe(att, spec(head=2))

    # tick labels are the tokens, drawn as text (the hostile ones included, never as markup)
    ticks = chromium.execute_script(
        "return window.Attnviz.data.sets[window.Attnviz.data.set].q.ticks.map((_, i) => window.Attnviz.tickLabel('y', i + 0.5))")
    assert "word" in ticks

    # hover over the second row/column: the tooltip names the tokens as plain text
    box = chromium.execute_script("return window.Attnviz.frame()")
    n = len(labels)
    hover_at(chromium, box["x"] + (1.5 / n) * box["width"], box["y"] + (1.5 / n) * box["height"])
    tips = wait_for(chromium, "(() => { const out = []; const walk = (r) => { r.querySelectorAll('.attnviz-tip')"
                              ".forEach(e => out.push(e.textContent)); r.querySelectorAll('*').forEach(e => "
                              "{ if (e.shadowRoot) walk(e.shadowRoot); }); }; walk(document);"
                              " return out.length ? out : null; })()")
    assert HOSTILE[0] in tips[0] and "Weight" in tips[0] and "Layer" in tips[0] and "Head2" in tips[0]
    hover_at(chromium, 1, 1)
    assert chromium.execute_script("return window.__pwned") is None

    # all layers x all heads: one mosaic in the same image glyph
    set_select(chromium, "layer", "all")
    set_select(chromium, "head", "all")
    view = chromium.execute_script("return window.Attnviz.view()")
    g = gap(n)
    assert (view["width"], view["height"]) == (4 * n + 3 * g, 3 * n + 2 * g)
    assert frame_pixels(chromium).std() > 20
    assert console_errors(chromium) == []
    assert chromium.execute_script("return window.__pwned") is None


def test_first_token_is_at_the_top(chromium, tmp_path):
    n = 8
    att = make_attention(n=n, layers=1, heads=1, peaked=False)
    w = np.full((1, 1, n, n), 0.0, dtype=np.float32)
    w[0, 0, 0, n - 1] = 1.0  # query 0 -> last key: the top right cell is the brightest
    w[0, 0, 1:, 0] = 0.5
    w[0, 0, 1:, 1] = 0.5
    att.weights = w
    page = write_page(tmp_path, "corner", att, spec(layer=0, head=0, values="false"))  # orientation only
    open_page(chromium, page)
    px = frame_pixels(chromium).astype(int)
    h, w_ = px.shape[:2]
    yellow = np.array([0xfd, 0xe7, 0x24])

    def cell(q, k):
        return px[int((q + 0.5) * h / n), int((k + 0.5) * w_ / n)]

    assert np.abs(cell(0, n - 1) - yellow).max() < 40  # top right: yellow
    assert np.abs(cell(n - 1, n - 1) - yellow).max() > 100  # bottom right: dark
    assert np.abs(cell(n - 1, 0) - yellow).max() > 40  # bottom left: 0.5, teal
    assert console_errors(chromium) == []


def test_large_page_and_local_only_requests(chromium, tmp_path):
    att = make_attention(n=60, layers=2, heads=3)
    page = write_page(tmp_path, "big", att, spec(layer="all", head="mean"))
    open_page(chromium, page)
    urls = [u for u in requested_urls(chromium) if not u.startswith("data:")]  # data: = Bokeh's icons
    assert [u.split("?v=")[0] for u in urls] == [page.as_uri(), (tmp_path / "bokeh.min.js").as_uri()]
    assert frame_pixels(chromium).std() > 15
    set_select(chromium, "layer", "1")
    set_select(chromium, "head", "max")
    ticks = chromium.execute_script("return window.Attnviz.data.sets[window.Attnviz.data.set].q.ticks.length")
    assert ticks == 60
    assert console_errors(chromium) == []
    assert [u for u in requested_urls(chromium) if not u.startswith("data:")] == []  # switching views reads the page's own data blocks only


@pytest.mark.parametrize("colormap", ["viridis", "magma"])
def test_cells_take_the_colour_bars_colours(chromium, tmp_path, colormap):
    """The page colours the cells itself (the document's image is RGBA): every cell has the colour Bokeh's linear
    colour mapper gives its weight on the colour bar's palette, low 0, high the largest weight shown."""
    from mkdocs_attnviz.toolkit.colors import palette

    n = 8
    att = make_attention(n=n, layers=1, heads=1, peaked=False)
    levels = np.arange(n * n, dtype=np.float32).reshape(n, n) * 3 / 255  # 0, 3/255, ... distinct 8-bit steps
    att.weights = (levels / levels.max() * 0.8)[None, None].astype(np.float32)  # the largest weight 0.8
    page = write_page(tmp_path, f"colours-{colormap}", att, spec(layer=0, head=0, values="false",
                                                                 colormap=colormap))
    open_page(chromium, page)
    view = chromium.execute_script("return window.Attnviz.view()")
    px = frame_pixels(chromium).astype(int)
    h, w_ = px.shape[:2]
    colours = [np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in palette(colormap)]
    high = view["max"]
    worst = 0
    for q in range(n):
        for k in range(n):
            d = chromium.execute_script("return window.Attnviz.cell(arguments[0], arguments[1], 0).w", q, k)
            key = 255 if d == high else min(255, max(0, int(np.floor((d * (1 / high)) / (1 / 256)))))
            got = px[int((q + 0.5) * h / n), int((k + 0.5) * w_ / n)]
            worst = max(worst, int(np.abs(got - colours[key]).max()))
    assert worst <= 2, worst
    assert console_errors(chromium) == []


def tiles_attention(n, layers, heads, seed, causal):
    """A record of random weights (a causal model's: its future zero, rows renormalised) and the weights its page
    carries (8 bits)."""
    import dataclasses

    from mkdocs_attnviz.analysis import dequantize, quantize

    att = make_attention(n=n, layers=layers, heads=heads, seed=seed)
    if causal:
        w = np.tril(att.weights)
        att = dataclasses.replace(att, weights=(w / w.sum(-1, keepdims=True)).astype(np.float32), causal=True)
    return att, dequantize(quantize(att.weights))


def check_tiles(driver, n, tiles, want, future):
    """The small multiples drawn now: tile t is ``tiles[t]`` (layer, head), its cell (q, k) reads ``want[t][q, k]``
    (a causal model's future, ``future``, masked), the scale's top is the largest weight shown, and each cell has
    the colour bar's colour for its weight."""
    from mkdocs_attnviz.toolkit.colors import palette

    colours = [np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in palette("viridis")]
    view = driver.execute_script("return window.Attnviz.view()")
    layout = driver.execute_script("return window.Attnviz.layout()")
    assert view["max"] == pytest.approx(max(float(w[~future].max()) for w in want), abs=1e-6)
    px = frame_pixels(driver).astype(int)
    g, cols = gap(n), layout["cols"]
    rows = -(-len(tiles) // cols)
    W, Hh = cols * n + (cols - 1) * g, rows * n + (rows - 1) * g
    worst = 0
    for t, (l, h) in enumerate(tiles):
        for q in range(n):
            for k in range(n):
                cell = driver.execute_script("return window.Attnviz.cell(arguments[0], arguments[1], arguments[2])",
                                             q, k, t)
                assert (cell["layer"], cell["head"]) == (l, h)
                if future[q, k]:
                    assert cell["w"] is None and cell["masked"]  # NaN reads as null
                    continue
                assert cell["w"] == pytest.approx(float(want[t][q, k]), abs=1e-6), (l, h, q, k)
                if q == 0:
                    continue  # under the tile's title ("head 2")
                d = cell["w"]
                key = 255 if d == view["max"] else min(255, int(np.floor(d / view["max"] * 256)))
                x = (t % cols) * (n + g) + k + 0.5
                y = (t // cols) * (n + g) + q + 0.5
                got = px[int(y * px.shape[0] / Hh), int(x * px.shape[1] / W)]
                worst = max(worst, int(np.abs(got - colours[key]).max()))
    assert worst <= 2, (tiles, worst)
    assert console_errors(driver) == []


@pytest.mark.parametrize("causal", [False, True])
def test_tiles_of_single_heads_show_and_name_each_heads_weights(chromium, tmp_path, causal):
    """Small multiples of single heads (every head of a layer; every layer × head) are coloured from the page's bytes
    and read from them for the tooltip: each tile's cell has its own head's weight (the 8-bit value the page carries),
    a causal model's future is masked, and each cell's colour is the colour bar's for its weight, on one scale whose
    top is the largest weight shown."""
    n, L, H = 7, 2, 3
    att, shown = tiles_attention(n, L, H, 5, causal)
    page = write_page(tmp_path, f"tiles-{causal}", att, spec(layer=1, head="all", values="false"))
    open_page(chromium, page)
    future = np.triu(np.ones((n, n), bool), 1) if causal else np.zeros((n, n), bool)
    for layer, tiles in ((1, [(1, h) for h in range(H)]), ("all", [(l, h) for l in range(L) for h in range(H)])):
        set_select(chromium, "layer", str(layer))
        check_tiles(chromium, n, tiles, [shown[l, h] for l, h in tiles], future)


@pytest.mark.parametrize("causal", [False, True])
def test_tiles_of_every_layers_mean_and_max_of_heads_show_those_weights(chromium, tmp_path, causal):
    """Every layer's mean (and max) of heads, one tile a layer, coloured from a plane of summed (largest) bytes
    through a table of colours: each cell reads the mean (max) of the heads' 8-bit weights, a causal model's future
    is masked, and each cell has the colour bar's colour for its weight, on one scale topped by the largest shown."""
    n, L, H = 7, 3, 4
    att, shown = tiles_attention(n, L, H, 11, causal)
    page = write_page(tmp_path, f"means-{causal}", att, spec(layer="all", head="mean", values="false"))
    open_page(chromium, page)
    future = np.triu(np.ones((n, n), bool), 1) if causal else np.zeros((n, n), bool)
    for head, reduce in (("mean", np.mean), ("max", np.max)):
        set_select(chromium, "head", head)
        want = reduce(shown.astype(np.float64), axis=1)  # (L, n, n)
        check_tiles(chromium, n, [(l, head) for l in range(L)], list(want), future)


@pytest.mark.parametrize("causal", [False, True])
def test_tiles_far_wider_than_the_plot_are_drawn_at_screen_resolution_and_sharpened_on_zoom(chromium, tmp_path,
                                                                                              causal):
    """3 × 12 heads of 150 tokens (about 1,800 cells across a plot of a few hundred pixels): the image holds one cell
    in `step` along each axis — exactly the cells the full image has there — and a zoom past that resolution draws
    the full image again, the reader's range kept. Hover reads every cell whatever the step."""
    n, L, H = 150, 3, 12
    att, shown = tiles_attention(n, L, H, 7, causal)
    page = write_page(tmp_path, f"wide-{causal}", att, spec(layer=0, head="all", values="false"))
    open_page(chromium, page)
    set_select(chromium, "layer", "all")
    view = chromium.execute_script("return window.Attnviz.view()")
    sx, sy = view["step"]
    assert sx > 1, view
    image = ("const img = Bokeh.documents[0].get_model_by_name('attnviz-source').data.image[0];"
             "return [img.shape, Array.from(img)];")
    (h, w), sampled = chromium.execute_script(image)
    assert (h, w) == (-(-view["height"] // sy), -(-view["width"] // sx))
    cell = chromium.execute_script("return window.Attnviz.cell(9, 5, 13)")  # tile 13: layer 1, head 1
    assert (cell["layer"], cell["head"]) == (1, 1)
    assert cell["w"] == pytest.approx(float(shown[1, 1, 9, 5]), abs=1e-6)
    chromium.execute_script("const d = Bokeh.documents[0]; window.Attnviz.ready = false;"
                            "d.get_model_by_name('attnviz-xrange').setv({start: 100, end: 300});"
                            "d.get_model_by_name('attnviz-yrange').setv({start: 300, end: 100});")
    wait_for(chromium, "window.Attnviz.ready === true && window.Attnviz.view().step[0] === 1")
    assert chromium.execute_script("return window.Attnviz.view().step") == [1, 1]
    (fh, fw), full = chromium.execute_script(image)
    assert (fh, fw) == (view["height"], view["width"])
    full = np.array(full, dtype=np.uint32).reshape(fh, fw)
    assert np.array_equal(np.array(sampled, dtype=np.uint32).reshape(h, w), full[::sy, ::sx])
    assert np.count_nonzero(full) > 0.4 * full.size  # coloured cells, not an empty image
    kept = chromium.execute_script("const d = Bokeh.documents[0]; const x = d.get_model_by_name('attnviz-xrange');"
                                   "return [x.start, x.end]")
    assert kept == [100, 300]
    assert console_errors(chromium) == []
