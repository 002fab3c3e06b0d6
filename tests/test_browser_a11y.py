"""Accessibility in real headless Chromium: axe-core (WCAG 2.2 AA rules) inside every figure frame and on the host
page around it, for every view on a Material site, in light and dark."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from browser import chromium, drawn_in_frame, wait_for  # noqa: F401
from conftest import Site
from serving import serve_folder
from mkdocs_attnviz import attention
from mkdocs_attnviz.views import longinput

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SENTENCE = "The cat sat on the mat because it was tired."
#: one figure of every view (the long input: LONG_TOKENS lowered while the site builds)
FIGURES = [
    ("heatmap", 'layer="5" head="3"', SENTENCE),
    ("bars", 'view="bars"', SENTENCE),
    ("heads", 'view="heads"', SENTENCE),
    ("model", 'view="model"', SENTENCE),
    ("neuron", 'view="neuron" query="it"', SENTENCE),
    ("summary", 'view="summary"', SENTENCE),
    ("compare", 'compare="layer:0"', SENTENCE),
    ("longinput", 'head="mean"', "The cat sat on the mat because it was tired. The dog chased the cat around the "
                                 "garden."),
]
MATERIAL = """
theme:
  name: material
  font: false
  palette:
    - scheme: default
      toggle:
        icon: material/brightness-7
        name: Dark mode
    - scheme: slate
      toggle:
        icon: material/brightness-4
        name: Light mode
"""
SHOTS = os.environ.get("ATTNVIZ_SHOTS")  # a folder: screenshots of the open table go there, to look at
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def build_site(root: Path, minilm_path: str) -> Path:
    """A Material site with one page holding a figure of every view."""
    site = Site(root / "project", minilm_path)
    body = ["# Every view", ""]
    for name, options, sentence in FIGURES:
        body += [f"## The {name} view", "", f"```attnviz {options}", sentence, "```", ""]
    site.page("index.md", "\n".join(body))
    site.config(site_url="http://127.0.0.1/", extra=MATERIAL)
    patch = pytest.MonkeyPatch()
    patch.setattr(attention, "LONG_TOKENS", 20)
    patch.setattr(longinput, "FULL_TOKENS", 16)
    patch.setattr(longinput, "OVERVIEW_CELLS", 8)
    patch.setattr(longinput, "DETAIL_TOKENS", 12)
    try:
        site.build(strict=True)
    finally:
        patch.undo()
    return site.site


@pytest.fixture(scope="module")
def served(tmp_path_factory, minilm_path):
    if not AXE.is_file():
        pytest.skip(f"{AXE} is missing (npm ci)")
    httpd = serve_folder(build_site(tmp_path_factory.mktemp("a11y"), minilm_path))
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


def run_axe(driver, options: dict | None = None, *, within: str | None = None) -> list[dict]:
    """axe-core's serious and critical violations in the current document (its source injected first); ``within``:
    only those of the elements inside what this selector matches (the host page: our figures, not the theme's)."""
    if not driver.execute_script("return typeof axe !== 'undefined'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"], **(options or {})}
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const within = arguments[1];"
        "const ours = n => !within || n.target.every(t => typeof t === 'string' && document.querySelector(t) "
        "  && document.querySelector(t).closest(within));"
        "axe.run(document, arguments[0]).then(r => done(r.violations.map(v => Object.assign(v, "
        "  {nodes: v.nodes.filter(ours)})).filter(v => v.nodes.length)))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));", options, within)
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def report(where: str, violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:6]:
            lines.append(f"    {node.get('target')}: {node.get('failureSummary', '').splitlines()[-1:]}"
                         f" {node.get('html', '')[:160]}")
    return "\n".join(lines)


def set_scheme(driver, scheme: str) -> None:
    """Material's palette toggle: ``default`` (light) or ``slate`` (dark)."""
    if driver.execute_script("return document.body.getAttribute('data-md-color-scheme')") != scheme:
        driver.find_element("css selector", "label.md-header__button[for^='__palette']:not([hidden])").click()
        wait_for(driver, f"document.body.getAttribute('data-md-color-scheme') === {json.dumps(scheme)}")


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_axe_finds_no_serious_violation_in_frames_or_host(chromium, served, scheme):
    driver = chromium
    driver.get(served)
    set_scheme(driver, scheme)
    frames = driver.find_elements("css selector", "iframe.attnviz-frame")
    assert len(frames) == len(FIGURES)
    found = []
    want = "dark" if scheme == "slate" else "light"
    for (name, _options, _sentence), frame in zip(FIGURES, frames):
        assert drawn_in_frame(driver, frame, "return document.documentElement.getAttribute('data-theme')") == want
        driver.switch_to.frame(frame)
        try:
            # the table alternative open (its <details> closed hides it from axe)
            driver.execute_script("document.getElementById('attnviz-table').open = true")
            bad = run_axe(driver)
            if SHOTS and name in ("heatmap", "bars"):
                driver.save_screenshot(str(Path(SHOTS) / f"table-{name}-{scheme}.png"))
            driver.execute_script("document.getElementById('attnviz-table').open = false")
        finally:
            driver.switch_to.default_content()
        if bad:
            found.append(report(f"{name} frame ({scheme})", bad))
    # the host page around the figures (the frames themselves are checked above: here only their element)
    bad = run_axe(driver, {"iframes": False}, within="figure.attnviz")
    if bad:
        found.append(report(f"host page ({scheme})", bad))
    assert not found, "\n".join(found)
