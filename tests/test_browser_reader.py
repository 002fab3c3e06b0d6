"""What a reader gets from a built site in real headless Chromium, served over HTTP under a sub-path: a page with
six figures (they take turns, the nearest first; every one draws and switches; nothing leaves the site), Material's
instant navigation from page to page, and the site's dark mode followed by every figure."""

from __future__ import annotations

import time

import pytest

from browser import chromium, console_errors, drawn_in_frame, requested_urls, wait_for  # noqa: F401
from conftest import Site
from serving import serve_folder

pytestmark = pytest.mark.browser

TEXT = "Attention weights say which tokens a head reads when it builds another one. " * 8

#: the six figures of the long page: three heatmaps (BokehJS) and three canvas views
SIX = [('layer="0" head="3"', "The cat sat on the mat."),
       ('view="heads"', "She gave him the book."),
       ('layer="2" head="mean"', "Attention is all you need."),
       ('view="bars" layer="1"', "The river bank was muddy."),
       ('layer="last" head="max"', "He saw the bank manager."),
       ('view="summary"', "Time flies like an arrow.")]

STATE = """
return Array.from(document.querySelectorAll("iframe.attnviz-frame")).map(function (f) {
  var w = null;
  try { w = f.contentWindow; } catch (e) {}
  return { ready: !!(w && w.Attnviz && w.Attnviz.ready === true), at: w && w.__drawnAt || null,
           away: f.hasAttribute("data-attnviz-away"),  // released far from the reader (attnviz-host.js)
           theme: w && w.document && w.document.documentElement  // null while the frame starts loading
                  && w.document.documentElement.getAttribute("data-theme") };
});
"""

#: stamps, in every figure page, the time (on the host page's clock) its first draw was said to be done
STAMP = """
(function () {
  var ready = false;
  Object.defineProperty(window.Attnviz = window.Attnviz || {}, "ready", { configurable: true,
    get: function () { return ready; },
    set: function (v) { ready = v; if (v && !window.__drawnAt) window.__drawnAt = performance.timeOrigin + performance.now(); } });
})();
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_path):
    """The built site (its folder)."""
    site = Site(tmp_path_factory.mktemp("reader") / "project", minilm_path)
    site.page("index.md", "# Home\n\nRead [the long page](long.md) or [the short one](short.md).\n")
    body = ["# Six figures", ""]
    for i, (options, sentence) in enumerate(SIX):
        body += [f"## Figure {i + 1}", "", TEXT, "", f"```attnviz {options}", sentence, "```", "", TEXT, ""]
    body += ["## The end {#the-end}", "", "Back to [the short page](short.md).", ""]
    site.page("long.md", "\n".join(body))
    site.page("short.md", '# Two figures\n\n```attnviz layer="1" head="0"\nThe dog chased the ball.\n```\n\n'
                          '```attnviz view="heads"\nThe dog chased the ball.\n```\n\nOn to [the long page](long.md).\n')
    # Material with instant navigation and a light/dark toggle, without Google Fonts: any request that leaves the
    # site would be ours
    site.config(site_url="http://127.0.0.1/project/sub/", extra="""
theme:
  name: material
  font: false
  features:
    - navigation.instant
  palette:
    - scheme: default
      toggle:
        icon: material/brightness-7
        name: Dark mode
    - scheme: slate
      toggle:
        icon: material/brightness-4
        name: Light mode
markdown_extensions:
  - attr_list
""")
    site.build(strict=True)
    return site.site


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "project").mkdir(parents=True)
    (root / "project" / "sub").symlink_to(built, target_is_directory=True)

    server = serve_folder(root, cache_control="max-age=600")  # as GitHub Pages
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/project/sub/"
    finally:
        server.shutdown()


@pytest.fixture
def reader(chromium):
    """The test browser with the stamp in every figure page (removed afterwards)."""
    added = chromium.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STAMP})
    requested_urls(chromium), console_errors(chromium)  # clear the logs
    chromium.get("about:blank")
    try:
        yield chromium
    finally:
        chromium.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]})


def states(driver) -> list[dict]:
    return driver.execute_script(STATE)


def read_to_the_end(driver, count: int) -> list[dict]:
    """Scroll down a viewport at a time, as a reader does, until every figure has drawn (a figure the reader has
    left far behind may have been released since: it drew)."""
    deadline = time.monotonic() + 60
    drawn: set[int] = set()
    while time.monotonic() < deadline:
        found = states(driver)
        drawn |= {i for i, s in enumerate(found) if s["ready"] or s["away"]}  # only a drawn figure is released
        if len(found) == count and len(drawn) == count:
            return found
        driver.execute_script("window.scrollBy(0, window.innerHeight * 0.8)")
        time.sleep(0.2)
    raise AssertionError(f"figures not drawn: {states(driver)}")


def switch(driver, index: int, select: str, value: str) -> None:
    """Pick ``value`` in the figure's ``select`` and wait until the figure says it shows it."""
    frame = driver.find_elements("css selector", "iframe.attnviz-frame")[index]
    driver.execute_script("arguments[0].scrollIntoView()", frame)
    # a figure released while the reader was far away loads again: wait until it has drawn
    wait_for(driver, f"!document.querySelectorAll('iframe.attnviz-frame')[{index}].hasAttribute('data-attnviz-away')")
    driver.switch_to.frame(frame)
    try:
        wait_for(driver, "window.Attnviz && window.Attnviz.ready === true")
        before = driver.execute_script("return document.documentElement.getAttribute('data-attnviz-view')")
        driver.execute_script(f"var s = document.getElementById({select!r}); s.value = {value!r};"
                              "s.dispatchEvent(new Event('change', {bubbles: true}));")
        wait_for(driver, f"document.documentElement.getAttribute('data-attnviz-view') !== {before!r}")
    finally:
        driver.switch_to.default_content()


def off_site(driver, base: str) -> list[str]:
    return [u for u in requested_urls(driver) if not u.startswith((base, "data:", "blob:", "about:"))]


def test_six_figures_take_turns_draw_switch_and_stay_on_the_site(reader, served):
    reader.get(served + "long/")
    found = read_to_the_end(reader, len(SIX))
    # the figures took turns through the host page, and are done (the last one hands its turn back just after it
    # says it is ready)
    turns = wait_for(reader, "window.__attnvizTurns && !window.__attnvizTurns.busy && "
                             "!window.__attnvizTurns.waiting.length && window.__attnvizTurns", timeout=10)
    assert turns
    # a heatmap and the head view switch layer and head after all six are drawn
    switch(reader, 0, "attnviz-layer", "5")
    switch(reader, 4, "attnviz-head", "2")
    assert console_errors(reader) == []
    urls = requested_urls(reader)
    assert [u for u in urls if not u.startswith((served, "data:", "blob:", "about:"))] == []
    # the figure pages linked the shared files of the site (the browser fetched them once), not copies of their own
    pages = {u for u in urls if u.endswith(".html") and "/assets/attnviz/" in u}
    assert len(pages) == len(found) == len(SIX)
    for name in ("attnviz-common.js?v=", "view-heatmap.js?v=", "attnviz-doc-", "bokeh.min.js"):
        assert len([u for u in urls if "/assets/attnviz/" + name in u]) >= 1, name


def test_the_figures_nearest_the_reader_draw_first(reader, served):
    reader.get(served + "long/#the-end")  # a reader who lands at the bottom of the page
    wait_for(reader, "document.querySelectorAll('iframe.attnviz-frame').length === 6")
    distance = reader.execute_script(
        "return Array.from(document.querySelectorAll('iframe.attnviz-frame')).map(function (f) {"
        "  var r = f.getBoundingClientRect(); return r.bottom < 0 ? -r.bottom : r.top > innerHeight ? "
        "  r.top - innerHeight : 0; });")
    assert distance[-1] == 0 and distance[0] > 0  # the last figure in view, the first far above
    # served, the browser's own lazy loading decides (it starts a frame sooner): the host script loads none by hand
    assert reader.execute_script("return document.querySelectorAll('[data-attnviz-why=\"lazy\"]').length") == 0
    # Chromium loads a lazy frame from 1,250 px away at the least (more on slow links): those must draw
    near = [i for i, d in enumerate(distance) if d <= 1250]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(states(reader)[i]["ready"] for i in near):
        time.sleep(0.05)
    time.sleep(1)  # farther frames the browser chose to load get a moment too
    drawn = [(s["at"], d) for s, d in zip(states(reader), distance) if s["ready"]]
    assert len(near) >= 2 and all(states(reader)[i]["ready"] for i in near), (distance, drawn)
    # the figures near the end load (lazily) and draw; a farther one the browser loaded may draw too, or be released
    # again by the host page (attnviz-host.js: more than two viewports away)
    assert len(drawn) >= 2, drawn
    in_order = [d for _at, d in sorted(drawn)]
    assert in_order == sorted(in_order), drawn  # one at a time, the nearest first
    assert console_errors(reader) == []


def test_instant_navigation_and_dark_mode(reader, served):
    reader.get(served + "short/")
    read_to_the_end(reader, 2)
    assert {s["theme"] for s in states(reader)} == {"light"}
    # Material's instant navigation: the next page's content replaces this one's, the window stays
    reader.find_element("css selector", "article a[href$='long/']").click()
    wait_for(reader, "location.pathname.endsWith('/long/')")
    assert reader.execute_script("return performance.getEntriesByType('navigation').length") == 1  # no reload
    read_to_the_end(reader, len(SIX))
    # the site's dark mode: Material's palette toggle, followed by every figure of the page
    reader.execute_script("window.scrollTo(0, 0)")
    reader.find_element("css selector", "label.md-header__button[for='__palette_1']").click()
    wait_for(reader, "document.body.getAttribute('data-md-color-scheme') === 'slate'")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and {s["theme"] for s in states(reader) if not s["away"]} != {"dark"}:
        time.sleep(0.05)
    assert {s["theme"] for s in states(reader) if not s["away"]} == {"dark"}  # released ones open dark when back
    # and back, by instant navigation, to a page whose figures open dark
    reader.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    reader.find_element("css selector", "article a[href$='short/']").click()
    wait_for(reader, "location.pathname.endsWith('/short/')")
    found = read_to_the_end(reader, 2)
    assert {s["theme"] for s in found} == {"dark"}
    switch(reader, 0, "attnviz-head", "mean")
    assert console_errors(reader) == []
    assert off_site(reader, served) == []


def test_opened_from_files_every_figure_draws_without_turns(reader, built):
    """From ``file://`` a figure page cannot reach its host page (another origin in Chromium): no queue, each draws."""
    reader.get((built / "long" / "index.html").as_uri())
    frames = reader.find_elements("css selector", "iframe.attnviz-frame")
    assert len(frames) == len(SIX)
    assert reader.execute_script("return window.__attnvizTurns === undefined")  # no figure could reach this page
    for frame in frames:
        drawn_in_frame(reader, frame, timeout=30)
    assert [e for e in console_errors(reader) if "favicon" not in e.get("message", "")] == []
