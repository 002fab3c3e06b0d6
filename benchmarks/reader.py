"""Benchmark 7: what a reader feels — a docs page with six small figures, one figure alone, bytes, one-file reports.

A MkDocs site (Material theme, the packaged MiniLM) with a page of six small heatmaps (8–10 tokens, text
between them, as a tutorial page has) and a page with one of them, built with ``mkdocs build`` and served over
HTTP from this process (``Cache-Control: max-age=600``, as GitHub Pages sends). Headless Chromium opens the page
once to fill its cache (BokehJS and the shared scripts, as for a reader's second page), then for each measured
load:

* **first ready**: from the host page's navigation start to the first animation frame after the first figure
  said it is drawn (``window.Attnviz?.ready``), each figure's time taken on its own clock
  (``performance.timeOrigin``) and put on the host page's;
* **all ready while scrolling**: the reader scrolls down one viewport every 250 ms (:data:`SCROLL_MS`) from the moment
  the page has loaded to its end; the time the last figure is drawn;
* **one alone**: the same on the page holding one figure.

Where a measured figure's time went (a missed row's reason), from the load at the median: when the host page asked for
the figure's page (its resource timing), when the figure's page asked for BokehJS (its script element added), read it
from the browser's cache and had run it (the element's load event), and when the figure was drawn; for all ready, the
time each figure was drawn.

Bytes: a small figure's own page (what no other figure shares) and the shared files every figure page uses
(the browser keeps them); the single file ``attnviz report --single-file`` writes for five small figures.
"""

from __future__ import annotations

import functools
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import MINILM, MKDOCS, human, log, table

ATTNVIZ = str(Path(sys.executable).parent / "attnviz")
SCROLL_MS = 250
#: six small figures (8–10 tokens each with [CLS] and [SEP])
SENTENCES = (
    "The cat sat on the mat.",
    "She gave him the book.",
    "Attention is all you need.",
    "The river bank was muddy.",
    "He saw the bank manager.",
    "Time flies like an arrow.",
)
VIEWS = ("heatmap",) * 6

STAMP = """
(function () {
  var ready = false;
  var now = function () { return performance.timeOrigin + performance.now(); };
  // this page's stages, on the epoch clock (shared by every frame): BokehJS asked for (its script element added), read (resource timing)
  // and run (the element's load event, which fires once the script has been evaluated), then drawn (painted). A
  // lazy frame's page may reuse the window of its first, empty document (the same origin): this script then ran
  // for that document only, so it hooks what the window keeps (its Attnviz object and Node.prototype); when the
  // page itself began loading is read from the host page's resource timing (STATE).
  window.__bench = { painted: null, bokehRun: null, bokehAsked: null, bokehFetched: null };
  var append = Node.prototype.appendChild;
  Node.prototype.appendChild = function (child) {
    var el = /** @type {any} */ (child);
    if (el && el.tagName === "SCRIPT" && /bokeh[^/]*\\.js/.test(el.src || "") && window.__bench.bokehAsked === null) {
      var asked = now();
      window.__bench.bokehAsked = asked;
      el.addEventListener("load", function () {
        window.__bench.bokehRun = now();
        var entry = performance.getEntriesByName(el.src).pop();
        if (entry) window.__bench.bokehFetched = asked + (entry.responseEnd - entry.startTime);
      });
    }
    return append.call(this, child);
  };
  Object.defineProperty(window.Attnviz = window.Attnviz || {}, "ready", {
    configurable: true,
    get: function () { return ready; },
    set: function (v) {
      ready = v;
      if (v && window.__bench.painted === null)
        requestAnimationFrame(function () { window.__bench.painted = now(); });
    }
  });
})();
"""

#: per figure of the host page: [drawn at (ms after the host page's navigation start) or null, its iframe's top,
#: its stages: {start, bokehAsked, bokehFetched, bokehRun} in ms after the host page's start (null: not reached or not seen)]
STATE = """
var out = [], t0 = performance.timeOrigin;
function rel(v) { return v === null || v === undefined ? null : v - t0; }
document.querySelectorAll("iframe.attnviz-frame").forEach(function (f) {
  var b = null;
  try { b = f.contentWindow.__bench; } catch (e) {}
  // the frame's page asked for by the host page (its last request: a released frame is loaded again)
  var asked = performance.getEntriesByName(f.src).filter(function (e) { return e.initiatorType === "iframe"; }).pop();
  out.push([b && b.painted !== null ? b.painted - t0 : null,
            f.getBoundingClientRect().top + window.scrollY,
            { start: asked ? asked.startTime : null, bokehAsked: rel(b && b.bokehAsked),
              bokehFetched: rel(b && b.bokehFetched), bokehRun: rel(b && b.bokehRun) }]);
});
return out;
"""


def make_site(root: Path, model_path: str, layers: int = 6) -> Path:
    """The site: ``six/`` (six figures with text between them, one per layer of ``layers``) and ``one/`` (the
    first of them alone)."""
    docs = root / "docs"
    (docs / "six").mkdir(parents=True, exist_ok=True)
    (docs / "one").mkdir(parents=True, exist_ok=True)
    (root / "mkdocs.yml").write_text(
        "site_name: Reader benchmark\nsite_dir: site\ntheme:\n  name: material\n  font: false\n"
        "plugins:\n  - attnviz:\n      models:\n"
        f"        {MINILM}: {model_path}\n      defaults:\n        model: {MINILM}\n", encoding="utf-8")
    (docs / "index.md").write_text("# Reader benchmark\n\n* [Six figures](six/index.md)\n* [One figure](one/index.md)\n",
                                   encoding="utf-8")
    para = ("Attention weights say which tokens a head reads when it builds the representation of another. "
            "Each row of the matrix is a query token and each column a key token; every row sums to one. ") * 3
    body = ["# Six figures", ""]
    for i, (sentence, view) in enumerate(zip(SENTENCES, VIEWS)):
        body += [f"## Figure {i + 1}", "", para, "", f'```attnviz view="{view}" layer="{i % layers}" head="3"', sentence,
                 "```", "", para, ""]
    (docs / "six" / "index.md").write_text("\n".join(body), encoding="utf-8")
    (docs / "one" / "index.md").write_text("\n".join(["# One figure", "", para, "", '```attnviz layer="0" head="3"',
                                                      SENTENCES[0], "```", "", para, ""]), encoding="utf-8")
    return root


class _Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "max-age=600")  # as GitHub Pages
        super().end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _open(driver, url: str, *, scroll: bool, timeout: float = 60.0) -> dict[str, Any]:
    """Open ``url`` and wait until every figure is drawn (scrolling down as a reader does, with ``scroll``)."""
    driver.get("about:blank")
    driver.get(url)
    height = driver.execute_script("return window.innerHeight")
    deadline = time.monotonic() + timeout
    next_scroll = time.monotonic() + SCROLL_MS / 1000
    seen: dict[int, float] = {}  # a figure's first paint, kept: the host page releases a drawn figure far behind
    stages: dict[int, dict[str, Any]] = {}  # its stages as they were when it was first seen drawn
    while time.monotonic() < deadline:
        state = driver.execute_script(STATE)
        for i, (t, _top, stage) in enumerate(state or []):
            if t is not None and i not in seen:
                seen[i] = t
                stages[i] = dict(stage or {}, drawn=t)
        state = [[seen.get(i), top] for i, (_t, top, _stage) in enumerate(state or [])]
        if state and all(t is not None for t, _top in state):
            break
        if scroll and time.monotonic() >= next_scroll:
            driver.execute_script("window.scrollBy(0, arguments[0])", height)
            next_scroll += SCROLL_MS / 1000
        time.sleep(0.01)
    else:
        raise TimeoutError(f"figures not drawn after {timeout} s: {state}")
    times = [t for t, _top in state]
    return {"first": min(times), "all": max(times), "each": times,
            "first_stages": stages[times.index(min(times))],
            "last_stages": dict(stages[times.index(max(times))], each=sorted(times))}


def browser_timings(base: str, *, loads: int, work: Path) -> dict[str, Any]:
    from . import browser

    driver = browser.make_driver(work / "profile", width=1100, height=900)
    out: dict[str, Any] = {}
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STAMP})
        _open(driver, base + "six/", scroll=True)  # the reader's cache: BokehJS, shared scripts, fonts
        _open(driver, base + "one/", scroll=False)
        six = [_open(driver, base + "six/", scroll=True) for _ in range(loads)]
        one = [_open(driver, base + "one/", scroll=False) for _ in range(loads)]
        out["six_first_ms"] = [r["first"] for r in six]
        out["six_all_ms"] = [r["all"] for r in six]
        out["six_each_ms"] = six[-1]["each"]
        out["one_ms"] = [r["first"] for r in one]
        # the stages of the load whose time is the median (the rows report medians): where its time went
        for key, runs, which, stages in (("six_first", six, "first", "first_stages"),
                                         ("six_all", six, "all", "last_stages"), ("one", one, "first", "first_stages")):
            ranked = sorted(runs, key=lambda r: r[which])
            out[f"{key}_stages"] = ranked[(len(ranked) - 1) // 2][stages]
        out["errors"] = browser.errors(driver)
    finally:
        driver.quit()
    return out


def page_bytes(site: Path) -> dict[str, Any]:
    """The figure pages of ``six/`` (their own bytes) and the shared files they use."""
    import re

    from mkdocs_attnviz.toolkit import assets

    folder = site / "assets" / "attnviz"
    host = (site / "six" / "index.html").read_text(encoding="utf-8")
    names = dict.fromkeys(re.findall(r'assets/attnviz/([0-9a-f]{32}\.html)', host))  # the frame and its link
    own = [(folder / name).stat().st_size for name in names]
    shared = {name: (folder / name).stat().st_size for name in assets.files() if (folder / name).is_file()}
    bokehjs = sum(p.stat().st_size for p in folder.glob("bokeh*.js"))
    return {"own": own, "shared": sum(shared.values()), "bokehjs": bokehjs}


def single_file(root: Path, model_path: str) -> int:
    """Bytes of ``attnviz report --single-file`` with five small figures."""
    spec = root / "report.md"
    blocks = "\n".join(f"```attnviz\n{s}\n```\n" for s in SENTENCES[:5])
    spec.write_text(f"---\ntitle: Five figures\nmodels:\n  {MINILM}: {model_path}\ndefaults:\n  model: {MINILM}\n---\n\n{blocks}",
                    encoding="utf-8")
    out = root / "report.html"
    subprocess.run([ATTNVIZ, "report", str(spec), "--single-file", "-o", str(out)], check=True, cwd=root,
                   capture_output=True, text=True)
    return out.stat().st_size


def measure(model_path: str, *, loads: int = 3, work: Path | None = None, layers: int = 6) -> dict[str, Any]:
    from . import browser

    work = Path(work or tempfile.mkdtemp(prefix="attnviz-bench-reader-"))
    root = make_site(work / "site-project", model_path, layers)
    proc = subprocess.run([MKDOCS, "build", "--strict"], cwd=root, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"mkdocs build failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = {"bytes": page_bytes(root / "site"), "single_file": single_file(work, model_path)}
    if browser.available():
        server, base = serve(root / "site")
        try:
            result["browser"] = browser_timings(base, loads=loads, work=work)
        finally:
            server.shutdown()
    log(f"reader: {result}")
    return result


def why(stages: dict[str, Any] | None, figure: str) -> str:
    """Where a measured figure's time went, from its stages (ms after the host page's navigation start): when its
    page began loading, when BokehJS was fetched (the browser's cache) and run, when it was drawn."""
    if not stages or stages.get("start") is None:
        return ""
    start, asked, fetched, run, drawn = (stages.get(k) for k in ("start", "bokehAsked", "bokehFetched", "bokehRun",
                                                                 "drawn"))
    parts = [f"{figure}'s page began loading {start:.0f} ms after the host page's start"]
    if run is not None:
        fetch = (f"asked for at {asked:.0f} ms, read from the cache by {fetched:.0f} ms and "
                 if asked is not None and fetched is not None else "")
        parts.append(f"its BokehJS was {fetch}run by {run:.0f} ms ({run - max(start, fetched or start):.0f} ms "
                     f"evaluating it)")
        parts.append(f"it was drawn at {drawn:.0f} ms, {drawn - run:.0f} ms after BokehJS ran")
    else:
        parts.append(f"it was drawn at {drawn:.0f} ms (no BokehJS load seen in its page)")
    if stages.get("each"):
        parts.insert(0, "the figures were drawn one at a time (the host page's queue), at "
                     + ", ".join(f"{t:.0f}" for t in stages["each"]) + " ms")
    return "; ".join(parts)


def report(result: dict[str, Any]) -> str:
    b = result["bytes"]
    rows = [["a small figure's own page", f"{human(max(b['own']))} (largest of {len(b['own'])})"],
            ["shared scripts and styles (cached)", human(b["shared"])],
            ["BokehJS (cached)", human(b["bokehjs"])],
            ["single-file report, five small figures", human(result["single_file"])]]
    r = result.get("browser")
    if r:
        med = statistics.median
        rows += [["six figures: first ready", f"{med(r['six_first_ms']):.0f} ms"],
                 ["six figures: all ready while scrolling", f"{med(r['six_all_ms']):.0f} ms"],
                 ["one figure alone: ready", f"{med(r['one_ms']):.0f} ms"],
                 ["console errors", str(len(r["errors"]))]]
    return table(["what", "measured"], rows)


if __name__ == "__main__":  # python -m benchmarks.reader
    from .common import minilm_path

    print(report(measure(minilm_path(), loads=int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
