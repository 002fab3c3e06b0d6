"""The figures from the keyboard in real headless Chromium: Tab reaches every control with a visible focus, the
layer and head change with the arrow keys, and the heatmap's cells are walked with the arrow keys (Home/End too)
while a live region says "query → key: weight" — the weights of the page's own payload."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from browser import chromium, console_entries, screenshot_array, wait_for  # noqa: F401
from mkdocs_attnviz import draw, extract
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.toolkit.bokeh import bokehjs_files
from mkdocs_attnviz.toolkit.page import unpack_layer

pytestmark = pytest.mark.browser

SENTENCE = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def pages(tmp_path_factory, minilm_path):
    folder = tmp_path_factory.mktemp("keys")
    for rel, src in bokehjs_files().items():
        shutil.copy(src, folder / rel)
    att = extract.extract(extract.resolve_model(minilm_path, None, allowed_root=os.path.dirname(minilm_path)), SENTENCE)
    made = {}
    for name, options in [("heatmap", {"layer": "5", "head": "0"}), ("tiles", {"layer": "5", "head": "all"}),
                          ("heads", {"view": "heads"}), ("model", {"view": "model"}),
                          ("summary", {"view": "summary"})]:
        spec = build_spec({"model": "m", **options}, SENTENCE)
        made[name] = folder / f"{name}.html"
        made[name].write_text(draw.figure_page(att, spec), encoding="utf-8")
    return made


def payload(path):
    """The page's data JSON and its layers, decoded as the page decodes them: ``{layer: (heads, n, n)}``."""
    html = path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="attnviz-data">(.*?)</script>', html, re.S)
                      .group(1))
    n = data["sets"][data["set"]]["nq"]
    layers = {int(m.group(1)): unpack_layer(m.group(2), data["num_heads"], n)
              for m in re.finditer(r'<script type="application/octet-stream" data-set="\w+" data-layer="(\d+)">'
                                   r'(.*?)</script>', html, re.S)}
    return data, layers


def open_page(driver, path):
    console_entries(driver)
    driver.get(path.as_uri())
    wait_for(driver, "window.Attnviz.ready === true")


def press(driver, *keys):
    ActionChains(driver).send_keys(*keys).perform()


def active(driver) -> str:
    return driver.execute_script("const el = document.activeElement;"
                                 "return el.id || el.className || el.tagName.toLowerCase()")


def focus_ring(driver) -> dict:
    """The focused element's outline and the background it is drawn on."""
    return driver.execute_script("""
        const el = document.activeElement, s = getComputedStyle(el);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
                background: getComputedStyle(document.body).backgroundColor,
                visible: el.matches(':focus-visible')};""")


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def assert_visible_focus(driver):
    ring = focus_ring(driver)
    assert ring["visible"] and ring["style"] != "none" and ring["width"] >= 2, ring
    assert contrast(ring["color"], ring["background"]) >= 3, ring


def tab_to(driver, ident: str) -> list[str]:
    """Press Tab from the top of the page until ``ident`` has the focus; the ids passed on the way."""
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    seen = []
    for _ in range(20):
        press(driver, Keys.TAB)
        seen.append(active(driver))
        if seen[-1].startswith(ident):
            return seen
    raise AssertionError(f"Tab never reached {ident}: {seen}")


def said(driver) -> str:
    return driver.execute_script("return document.getElementById('attnviz-live').textContent")


def expected(data, layers, layer, head, q, k) -> str:
    def token(i):
        return (data["sets"][data["set"]]["q"]["labels"][i] or "∅") + f" #{i}"
    return f"{token(q)} → {token(k)}: {layers[layer][head, q, k]:.3f}"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_heatmap_from_the_keyboard(chromium, pages, theme):
    driver = chromium
    data, layers = payload(pages["heatmap"])
    n = data["sets"][data["set"]]["nq"]
    open_page(driver, pages["heatmap"])
    driver.execute_script(f"location.hash = 'theme={theme}'")
    wait_for(driver, f"document.documentElement.getAttribute('data-theme') === '{theme}'")
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    # Tab: layer, head, the two downloads, the table alternative, then the cells
    press(driver, Keys.TAB)
    assert active(driver) == "attnviz-layer"
    assert_visible_focus(driver)
    driver.execute_script("window.Attnviz.ready = false")
    press(driver, Keys.ARROW_UP)
    wait_for(driver, "window.Attnviz.ready === true && document.documentElement.dataset.attnvizView === '4/0'")
    press(driver, Keys.TAB)
    assert active(driver) == "attnviz-head"
    assert_visible_focus(driver)
    driver.execute_script("window.Attnviz.ready = false")
    press(driver, Keys.ARROW_DOWN)
    wait_for(driver, "window.Attnviz.ready === true && document.documentElement.dataset.attnvizView === '4/1'")
    for _ in range(2):
        press(driver, Keys.TAB)
        assert active(driver) == "attnviz-download"
        assert_visible_focus(driver)
    press(driver, Keys.TAB)
    assert active(driver) == "summary"
    assert_visible_focus(driver)
    press(driver, Keys.ENTER)  # the table alternative opens and closes from the keyboard
    assert driver.execute_script("return document.getElementById('attnviz-table').open")
    press(driver, Keys.ENTER)
    assert not driver.execute_script("return document.getElementById('attnviz-table').open")
    press(driver, Keys.TAB)
    assert active(driver) == "attnviz-cells"
    assert_visible_focus(driver)
    assert driver.execute_script("return document.getElementById('attnviz-cells').getAttribute('role')") == \
        "application"
    assert driver.execute_script("return document.getElementById('attnviz-live').getAttribute('aria-live')") == \
        "polite"
    wait_for(driver, "document.getElementById('attnviz-live').textContent !== ''")
    assert said(driver) == expected(data, layers, 4, 1, 0, 0)
    press(driver, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    assert said(driver) == expected(data, layers, 4, 1, 3, 2)
    press(driver, Keys.ARROW_LEFT, Keys.ARROW_UP)
    assert said(driver) == expected(data, layers, 4, 1, 2, 1)
    press(driver, Keys.END)
    assert said(driver) == expected(data, layers, 4, 1, 2, n - 1)
    press(driver, Keys.ARROW_RIGHT)  # the edge holds
    assert said(driver) == expected(data, layers, 4, 1, 2, n - 1)
    press(driver, Keys.HOME)
    assert said(driver) == expected(data, layers, 4, 1, 2, 0)
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.END).key_up(Keys.CONTROL).perform()
    assert said(driver) == expected(data, layers, 4, 1, n - 1, n - 1)
    # the current cell is marked where the plot draws it
    box = driver.execute_script("const r = document.querySelector('.attnviz-cursor').getBoundingClientRect();"
                                "return {x: r.left, y: r.top, w: r.width, h: r.height, hidden: "
                                "document.querySelector('.attnviz-cursor').hidden}")
    frame = driver.execute_script("return window.Attnviz.frame()")
    assert not box["hidden"]
    assert abs(box["x"] + box["w"] - (frame["x"] + frame["width"])) < 2
    assert abs(box["y"] + box["h"] - (frame["y"] + frame["height"])) < 2
    assert abs(box["w"] - frame["width"] / n) < 1
    # drawn on top of the plot: the cursor's black border and the cells' focus ring (2px out) are on screen
    shot = screenshot_array(driver).astype(int)
    assert shot[int(box["y"] + box["h"] / 2), int(box["x"]) + 1].sum() < 60
    ring = focus_ring(driver)["color"]
    want = [int(float(v)) for v in re.findall(r"[\d.]+", ring)[:3]]
    got = shot[int(frame["y"] + frame["height"] / 2), int(frame["x"]) - 3]
    assert abs(got - want).sum() < 40, (got, ring)
    driver.save_screenshot(str(pages["heatmap"].parent / f"keys-{theme}.png"))
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.HOME).key_up(Keys.CONTROL).perform()
    assert said(driver) == expected(data, layers, 4, 1, 0, 0)
    # another head chosen: the same cell says the new weight
    driver.execute_script("const s = document.getElementById('attnviz-head'); s.value = '7';"
                          "s.dispatchEvent(new Event('change'));")
    wait_for(driver, "document.documentElement.dataset.attnvizView === '4/7'")
    press(driver, Keys.SHIFT + Keys.TAB, Keys.TAB)
    assert said(driver) == expected(data, layers, 4, 7, 0, 0)
    assert [e for e in console_entries(driver) if e["level"] == "SEVERE"] == []


def test_small_multiples_are_walked_tile_by_tile(chromium, pages):
    driver = chromium
    data, layers = payload(pages["tiles"])
    n = data["sets"][data["set"]]["nq"]
    open_page(driver, pages["tiles"])
    tab_to(driver, "attnviz-cells")
    assert said(driver) == "layer 5, head 0: " + expected(data, layers, 5, 0, 0, 0)
    press(driver, Keys.END, Keys.ARROW_RIGHT)  # past the last key of tile 0: the first key of tile 1
    assert said(driver) == "layer 5, head 1: " + expected(data, layers, 5, 1, 0, 0)
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.END).key_up(Keys.CONTROL).perform()
    assert said(driver) == "layer 5, head 11: " + expected(data, layers, 5, 11, n - 1, n - 1)


def test_canvas_view_controls_from_the_keyboard(chromium, pages):
    driver = chromium
    open_page(driver, pages["heads"])
    tab_to(driver, "attnviz-layer")
    assert_visible_focus(driver)
    driver.execute_script("window.Attnviz.ready = false")
    press(driver, Keys.ARROW_UP)
    wait_for(driver, "window.Attnviz.ready === true && window.Attnviz.state().layer === 4")
    for _ in range(20):  # every stop on the way to the first head's swatch shows its focus
        press(driver, Keys.TAB)
        assert_visible_focus(driver)
        if active(driver).startswith("attnviz-swatch"):
            break
    assert active(driver).startswith("attnviz-swatch")
    before = len(driver.execute_script("return window.Attnviz.state().heads"))
    press(driver, Keys.SPACE)
    wait_for(driver, f"window.Attnviz.state().heads.length === {before - 1}")


def media_rules(driver, condition: str) -> list[str]:
    """The CSS text of the rules inside ``@media condition`` of the page's stylesheets (CSSOM)."""
    return driver.execute_script("""
        const out = [];
        for (const sheet of document.styleSheets) for (const rule of sheet.cssRules)
          if (rule instanceof CSSMediaRule && rule.conditionText === arguments[0])
            for (const inner of rule.cssRules) out.push(inner.cssText);
        return out;""", condition)


def test_forced_colors_and_reduced_motion(chromium, pages):
    driver = chromium
    open_page(driver, pages["heatmap"])
    forced = " ".join(media_rules(driver, "(forced-colors: active)")).lower()
    assert ":focus-visible" in forced and "highlight" in forced and ".attnviz-cursor" in forced
    assert "buttontext" in forced and ".attnviz-download" in forced
    motion = " ".join(media_rules(driver, "(prefers-reduced-motion: reduce)"))
    assert "transition: none !important" in motion and "animation:" in motion and "none !important" in motion
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "forced-colors", "value": "active"}, {"name": "prefers-reduced-motion", "value": "reduce"}]})
    try:
        assert driver.execute_script("return matchMedia('(forced-colors: active)').matches && "
                                     "matchMedia('(prefers-reduced-motion: reduce)').matches")
        # nothing moves: a transition or animation asked for by anyone is cut
        assert driver.execute_script("""
            const d = document.createElement('div');
            d.style.cssText = 'transition: opacity 2s; animation: spin 2s infinite';
            document.body.appendChild(d);
            const s = getComputedStyle(d), out = [s.transitionDuration, s.animationName];
            d.remove();
            return out;""") == ["0s", "none"]
        # the focus stays visible in system colours, on the controls and on the cells
        for ident in ("attnviz-layer", "attnviz-download", "summary", "attnviz-cells"):
            tab_to(driver, ident)
            ring = focus_ring(driver)
            assert ring["style"] == "solid" and ring["width"] >= 3, (ident, ring)
            assert contrast(ring["color"], ring["background"]) >= 3, (ident, ring)
        press(driver, Keys.ARROW_DOWN)
        cursor = driver.execute_script("const c = document.querySelector('.attnviz-cursor'), s = getComputedStyle(c);"
                                       "return {hidden: c.hidden, color: s.borderTopColor, width: s.borderTopWidth}")
        assert not cursor["hidden"] and cursor["width"] == "2px"
        assert contrast(cursor["color"], focus_ring(driver)["background"]) >= 3, cursor
        driver.save_screenshot(str(pages["heatmap"].parent / "keys-forced.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


@pytest.mark.parametrize("view, handle, done", [("model", "Attnviz.handle", "enlarged: layer 4, head 2"),
                                                ("summary", "Attnviz.handle", "opened: layer 4, head 2")])
def test_model_and_summary_heads_are_chosen_from_the_keyboard(chromium, pages, view, handle, done):
    driver = chromium
    open_page(driver, pages[view])
    tab_to(driver, "attnviz-cells")
    assert_visible_focus(driver)
    assert said(driver) == "layer 5, head 0"
    press(driver, Keys.ARROW_UP, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert said(driver) == "layer 4, head 2"
    box = driver.execute_script(f"return window.{handle}.box(4, 2)")
    cursor = driver.execute_script("const r = document.querySelector('.attnviz-cursor').getBoundingClientRect();"
                                   "return {x: r.left, y: r.top, w: r.width, h: r.height}")
    assert abs(cursor["x"] - box["x"]) < 1 and abs(cursor["y"] - box["y"]) < 1 and abs(cursor["w"] - box["w"]) < 1
    driver.execute_script("window.Attnviz.ready = false")
    press(driver, Keys.ENTER)
    wait_for(driver, f"window.Attnviz.ready === true && JSON.stringify(window.{handle}.state.selected) === '[4,2]'")
    wait_for(driver, f"document.getElementById('attnviz-live').textContent === 'layer 4, head 2, {done}'")
    assert done in driver.execute_script("return document.title")
