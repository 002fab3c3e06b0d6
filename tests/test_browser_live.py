"""Live figures (``live="true"``) in real headless Chromium, on a site built by MkDocs and served over http.

Nothing of the model or the runtime is requested before the reader submits a sentence; then the page runs the
exported model in the browser and the numbers it draws equal transformers' eager attention for that sentence (the
real MiniLM, run here) within the bound the page states; its tokens are the build's; nothing leaves the site's
origin; the way back restores the author's figure; a page opened from a file says why it cannot go live."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from browser import chromium, console_errors, requested_urls, wait_for  # noqa: F401
from conftest import Site
from serving import serve_folder
from test_browser_a11y import AXE, MATERIAL, report, run_axe, set_scheme

pytestmark = pytest.mark.browser

AUTHOR = "The cat sat on the mat because it was tired."
#: the reader's sentence: accents and capitals (labels keep the sentence's characters), an apostrophe, a dash,
#: a character MiniLM's vocabulary lacks ([UNK]) and CJK characters (one token each)
READER = "Héllo, WORLD! Don't panic — naïve café ✓ 東京."
SECOND = "Dogs bark at night."
FIGURES = [("heatmap", 'live="true" layer="all" head="all"', AUTHOR),
           ("model", 'live="true" view="model"', AUTHOR),
           ("ja", 'live="true" lang="ja"', AUTHOR),
           ("reference", "", READER)]  # the build's own figure of the reader's sentence: its tokens and labels
SHOTS = os.environ.get("ATTNVIZ_SHOTS")  # a folder: screenshots of the live figure (light and dark) go there
DATA = re.compile(r'<script type="application/json" id="attnviz-data">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def live_site(tmp_path_factory, minilm_path):
    site = Site(tmp_path_factory.mktemp("live") / "project", minilm_path)
    body = ["# Live figures", ""]
    for name, options, sentence in FIGURES:
        body += [f"## {name}", "", f"```attnviz {options}".rstrip(), sentence, "```", ""]
    site.page("index.md", "\n".join(body))
    site.config(site_url="http://127.0.0.1/", extra=MATERIAL)
    site.build(strict=True)
    server = serve_folder(site.site)
    try:
        yield site.site, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def eager(minilm_path):
    """transformers' eager attention of the packaged MiniLM: sentence → (ids, (L, H, n, n) float32)."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(minilm_path)
    model = transformers.AutoModel.from_pretrained(minilm_path, attn_implementation="eager").eval()

    def run(sentence):
        enc = tok(sentence, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
        return enc["input_ids"][0].tolist(), torch.stack([a[0] for a in out.attentions]).numpy()

    return run


def figure_payloads(site: Path) -> list[dict]:
    return [json.loads(DATA.search(p.read_text(encoding="utf-8")).group(1))
            for p in sorted((site / "assets" / "attnviz").glob("*.html"))]


def manifest_of(site: Path, frame_live: dict) -> dict:
    """The live.json a figure page names (its URL is relative to the page, in assets/attnviz/)."""
    path = (site / "assets" / "attnviz" / frame_live["manifest"]).resolve()
    assert path.is_relative_to(site.resolve())
    return json.loads(path.read_text(encoding="utf-8"))


def open_frame(driver, url: str, index: int):
    driver.get(url)
    frames = wait_for(driver, "document.querySelectorAll('iframe.attnviz-frame').length === %d && "
                              "document.querySelectorAll('iframe.attnviz-frame')" % len(FIGURES))
    frame = frames[index]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
    driver.switch_to.frame(frame)
    wait_for(driver, "window.Attnviz && window.Attnviz.ready === true && !!window.Attnviz.live", timeout=60)
    return frame


def submit(driver, sentence: str, runs: int) -> dict:
    """Type ``sentence`` into the box and press Enter, as a reader does; the state once the figure is redrawn."""
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "attnviz-live-text")
    box.clear()
    box.send_keys(sentence)
    box.send_keys(Keys.ENTER)
    state = wait_for(driver, "(function () { var s = Attnviz.live.state(); return s.phase === 'error' || "
                             f"(s.phase === 'shown' && s.runs === {runs} && Attnviz.ready) ? s : null; }})()",
                     timeout=180)
    assert state["phase"] == "shown", state["error"]
    return state


# every cell the heatmap draws for layer="all" head="all": tile l·H + h holds layer l, head h (Attnviz.cell)
CELLS = """
var L = Attnviz.data.num_layers, H = Attnviz.data.num_heads, n = Attnviz.data.sets[Attnviz.data.set].nq, out = [];
for (var l = 0; l < L; l++) { var heads = [];
  for (var h = 0; h < H; h++) { var rows = [];
    for (var q = 0; q < n; q++) { var row = [];
      for (var k = 0; k < n; k++) { var c = Attnviz.cell(q, k, l * H + h);
        if (c.layer !== l || c.head !== h) throw new Error("tile " + (l * H + h) + " is not layer " + l + " head " + h);
        row.push(c.w); }
      rows.push(row); }
    heads.push(rows); }
  out.push(heads); }
return out;
"""


def drawn(driver) -> np.ndarray:
    assert driver.execute_script("return document.documentElement.getAttribute('data-attnviz-view')") == "all/all"
    return np.array(driver.execute_script(CELLS), dtype=np.float64)


def off_site(urls: list[str], origin: str) -> list[str]:
    return [u for u in urls if not u.startswith((origin, "data:", "blob:", "about:"))]


def test_the_reader_s_sentence_runs_in_the_page_and_equals_pytorch(chromium, live_site, eager):
    driver = chromium
    site, url = live_site
    requested_urls(driver), console_errors(driver)  # clear the logs
    open_frame(driver, url, 0)
    # before the reader asks: the box, and nothing of the model or the runtime requested
    driver.execute_script("return new Promise(r => setTimeout(r, 1000))")
    before = requested_urls(driver)
    assert any("attnviz-live.js" in u for u in before)
    assert not [u for u in before if "/attnviz/live/" in u or "/attnviz/runtime/" in u], before
    assert driver.execute_script("return Attnviz.live.state().phase") == "idle"
    label = driver.execute_script("var i = document.getElementById('attnviz-live-text');"
                                  "return i.labels.length && i.labels[0].textContent")
    assert label == "Your sentence"
    author = drawn(driver)
    author_q = driver.execute_script("return Attnviz.data.sets[Attnviz.data.set].q")

    assert driver.execute_script("return !document.getElementById('attnviz-table').hidden")

    state = submit(driver, READER, 1)
    # the table alternative is the author's matrix: hidden while the reader's sentence is shown
    assert driver.execute_script("return document.getElementById('attnviz-table').hidden")
    ids, reference = eager(READER)
    assert state["ids"] == ids
    # the bound the page states: the export's (checked at build: int8 ≤ 0.02, float32 one 8-bit step) plus the
    # 8-bit packing every figure has
    live = driver.execute_script("return Attnviz.data.live")
    manifest = manifest_of(site, live)
    assert manifest["bound"] <= (0.02 if manifest["quant"] == "int8" else 1 / 510)
    assert state["bound"] == pytest.approx(manifest["bound"] + 0.5 / 255)
    status = driver.find_element("id", "attnviz-live-status")
    assert status.get_attribute("aria-live") == "polite"
    assert READER in status.text and f"{state['bound']:.3f}" in status.text
    got = drawn(driver)
    assert got.shape == reference.shape
    error = float(np.abs(got - reference).max())
    assert error <= state["bound"] + 1e-6, (error, state["bound"])
    assert error > 0  # the drawn numbers are the packed ones, not PyTorch's copied in

    # the tokens, labels and ticks are the build's: the site's own figure of this sentence
    ref = next(p for p in figure_payloads(site) if p["text"] == READER and p.get("live") is None)
    q = driver.execute_script("return Attnviz.data.sets[Attnviz.data.set].q")
    assert q == ref["sets"][ref["set"]]["q"]
    assert "[UNK]" in q["tokens"] and "Héllo" in q["labels"] and "✓" in q["labels"]

    # the keyboard walks the reader's cells and says the reader's tokens (attnviz-keys.js)
    from selenium.webdriver.common.keys import Keys

    driver.find_element("id", "attnviz-cells").send_keys(Keys.ARROW_RIGHT)
    said = wait_for(driver, "(document.getElementById('attnviz-live').textContent.indexOf('Héllo') >= 0) && "
                            "document.getElementById('attnviz-live').textContent")
    assert "[CLS] #0 → Héllo #1" in said, said

    # the downloads hold the reader's sentence
    driver.execute_script("document.querySelector(\"button.attnviz-download[data-format='json']\").click()")
    saved = json.loads(wait_for(driver, "Attnviz.lastDownload && Attnviz.lastDownload.text"))
    assert saved["text"] == READER and saved["rows"] == q["labels"]

    # a later sentence: the runtime and model are not fetched again
    seen = before + requested_urls(driver)
    state = submit(driver, SECOND, 2)
    again = requested_urls(driver)
    seen += again
    assert not [u for u in again if "/attnviz/live/" in u or "/attnviz/runtime/" in u], again
    ids, reference = eager(SECOND)
    assert state["ids"] == ids
    assert float(np.abs(drawn(driver) - reference).max()) <= state["bound"] + 1e-6

    # the way back: the author's figure, the very numbers and tokens it drew
    driver.execute_script("document.getElementById('attnviz-live-back').click()")
    wait_for(driver, "Attnviz.live.state().phase === 'idle' && Attnviz.ready")
    assert driver.execute_script("return Attnviz.data.text") == AUTHOR
    assert driver.execute_script("return Attnviz.data.sets[Attnviz.data.set].q") == author_q
    assert np.array_equal(drawn(driver), author)
    assert driver.execute_script("return !document.getElementById('attnviz-table').hidden")
    assert driver.find_element("id", "attnviz-live-back").get_attribute("hidden") is not None

    driver.switch_to.default_content()
    seen += requested_urls(driver)
    assert any("/attnviz/live/" in u and u.endswith("model.onnx") for u in seen)
    assert off_site(seen, url) == []
    assert [e for e in console_errors(driver) if "favicon" not in e["message"]] == []


def test_the_model_view_redraws_the_reader_s_sentence(chromium, live_site, eager):
    driver = chromium
    _site, url = live_site
    open_frame(driver, url, 1)
    state = submit(driver, SECOND, 1)
    _ids, reference = eager(SECOND)
    n = reference.shape[-1]
    assert driver.execute_script("return Attnviz.state().view") == "model"
    assert driver.execute_script("return Attnviz.data.sets[Attnviz.data.set].nq") == n
    # the model view's download: the mean of the last layer's heads, as drawn
    driver.execute_script("document.querySelector(\"button.attnviz-download[data-format='json']\").click()")
    saved = json.loads(wait_for(driver, "Attnviz.lastDownload && Attnviz.lastDownload.text"))
    assert saved["text"] == SECOND and saved["head"] == "mean"
    got = np.array(saved["matrix"], dtype=np.float64)
    # the download rounds to 4 decimals
    assert np.abs(got - reference[-1].mean(axis=0)).max() <= state["bound"] + 1e-4
    driver.switch_to.default_content()


def test_the_box_speaks_the_figure_s_language(chromium, live_site):
    from mkdocs_attnviz.i18n import translations

    driver = chromium
    _site, url = live_site
    open_frame(driver, url, 2)
    ja = translations("ja").gettext
    words = driver.execute_script("return [document.querySelector('#attnviz-live-box label').textContent,"
                                  "document.querySelector('#attnviz-live-box .attnviz-live-go').textContent,"
                                  "document.getElementById('attnviz-live-back').textContent]")
    assert words == [ja("Your sentence"), ja("Run the model"), ja("Back to the author's sentence")]
    assert words[0] != "Your sentence"
    driver.switch_to.default_content()


def test_a_page_opened_from_a_file_says_why_and_draws_as_before(chromium, live_site):
    from mkdocs_attnviz.i18n import translations

    driver = chromium
    site, _url = live_site
    requested_urls(driver)
    page = next(p for p in sorted((site / "assets" / "attnviz").glob("*.html"))
                if (lambda d: d.get("live") and d["layer"] == "all")(json.loads(DATA.search(p.read_text("utf-8")).group(1))))
    driver.get(page.as_uri())
    wait_for(driver, "window.Attnviz && window.Attnviz.ready === true && !!window.Attnviz.live")
    state = driver.execute_script("return Attnviz.live.state()")
    said = translations("en").gettext("Your own sentence needs the page served over http(s): a page opened from a "
                                      "file cannot load the model.")
    assert state["phase"] == "unavailable" and state["reason"] == said
    assert driver.find_element("id", "attnviz-live-status").text == said
    assert not driver.find_element("id", "attnviz-live-text").is_enabled()
    assert driver.execute_script("return document.documentElement.getAttribute('data-attnviz-view')")
    assert not [u for u in requested_urls(driver) if "/live/" in u or "/runtime/" in u]


def test_a_browser_without_webassembly_is_told_why(chromium, live_site):
    from mkdocs_attnviz.i18n import translations

    driver = chromium
    _site, url = live_site
    added = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.WebAssembly;"})
    try:
        open_frame(driver, url, 0)
        state = driver.execute_script("return Attnviz.live.state()")
        assert state["phase"] == "unavailable"
        assert state["reason"] == translations("en").gettext("This browser cannot run the model (it has no WebAssembly).")
        assert driver.execute_script("return document.documentElement.getAttribute('data-attnviz-view')") == "all/all"
    finally:
        driver.switch_to.default_content()
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]})


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_axe_finds_no_serious_violation_in_the_live_box(chromium, live_site, scheme):
    if not AXE.is_file():
        pytest.skip(f"{AXE} is missing (npm ci)")
    driver = chromium
    _site, url = live_site
    driver.get(url)
    set_scheme(driver, scheme)
    frame = driver.find_elements("css selector", "iframe.attnviz-frame")[0]
    driver.execute_script("arguments[0].scrollIntoView()", frame)
    driver.switch_to.frame(frame)
    try:
        wait_for(driver, "window.Attnviz && window.Attnviz.ready === true && !!window.Attnviz.live", timeout=60)
        found = []
        bad = run_axe(driver, within="#attnviz-live-box")
        if bad:
            found.append(report(f"live box before a sentence ({scheme})", bad))
        submit(driver, SECOND, driver.execute_script("return Attnviz.live.state().runs") + 1)
        bad = run_axe(driver)
        if bad:
            found.append(report(f"live figure with the reader's sentence ({scheme})", bad))
        if SHOTS:
            driver.switch_to.default_content()
            driver.execute_script("arguments[0].scrollIntoView()", frame)
            driver.save_screenshot(str(Path(SHOTS) / f"live-{scheme}.png"))
        assert not found, "\n".join(found)
    finally:
        driver.switch_to.default_content()
