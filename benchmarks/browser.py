"""Benchmark 4: headless Chromium (the Debian package) on figure pages opened from ``file://``.

* first paint: milliseconds from navigation start (``performance.now()`` origin) to the animation frame
  that draws the first heatmap. A script injected before the page's own scripts (CDP
  ``Page.addScriptToEvaluateOnNewDocument``) watches ``window.Attnviz?.ready``, which view-heatmap.js sets once the
  first view is decoded and handed to Bokeh, and stamps the next ``requestAnimationFrame``: Bokeh paints
  its canvas in that frame.
* switch → repaint: inside the page, from dispatching ``change`` on the layer or head ``<select>`` to the
  animation frame after view-heatmap.js has handed the new view to Bokeh (a ``MutationObserver`` on the
  ``data-attnviz-view`` attribute it sets).
* at the largest size, a CPU profile (CDP ``Profiler``) of a layer switch and Chrome's own
  ``Performance.getMetrics`` after load, so "where the time goes" is measured, not guessed.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import human, log, table

CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ATTNVIZ_CHROMEDRIVER", "/usr/bin/chromedriver")

STAMP = """
(function () {
  var ready = false;
  window.__bench = { ready: null, painted: null };
  Object.defineProperty(window.Attnviz = window.Attnviz || {}, "ready", {
    configurable: true,
    get: function () { return ready; },
    set: function (v) {
      ready = v;
      if (v && window.__bench.ready === null) {
        window.__bench.ready = performance.now();
        requestAnimationFrame(function () { window.__bench.painted = performance.now(); });
      }
    }
  });
})();
"""

SWITCH = """
var done = arguments[arguments.length - 1], which = arguments[0], value = String(arguments[1]);
var layerSel = document.getElementById("attnviz-layer"), headSel = document.getElementById("attnviz-head");
var sel = which === "layer" ? layerSel : headSel;
var expected = which === "layer" ? value + "/" + headSel.value : layerSel.value + "/" + value;
var root = document.documentElement, t0;
var obs = new MutationObserver(function () {
  if (root.getAttribute("data-attnviz-view") !== expected) return;
  obs.disconnect();
  requestAnimationFrame(function () { done({ ms: performance.now() - t0, view: expected }); });
});
obs.observe(root, { attributes: true, attributeFilter: ["data-attnviz-view"] });
t0 = performance.now();
sel.value = value;
sel.dispatchEvent(new Event("change"));
"""


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def make_driver(profile_dir: Path, width: int = 1100, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},{height}", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    return driver


def write_pages(atts: dict[int, Any], folder: Path) -> dict[int, Path]:
    """One figure page per attention (``resources="local"``), BokehJS next to them, as a site would."""
    from mkdocs_attnviz.toolkit.bokeh import bokehjs_files

    from .page_weight import our_page

    folder.mkdir(parents=True, exist_ok=True)
    for name, src in bokehjs_files().items():
        shutil.copyfile(src, folder / name)
    pages = {}
    for n, att in sorted(atts.items()):
        path = folder / f"figure-{n}.html"
        path.write_text(our_page(att), encoding="utf-8")
        pages[n] = path
    return pages


def _wait(driver, script: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {script}")


def errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def painted_pixels(driver) -> float:
    """Standard deviation of the heatmap frame's pixels in a screenshot (0 = nothing drawn)."""
    import numpy as np
    from matplotlib.image import imread

    box = driver.execute_script("return window.Attnviz && window.Attnviz.frame && window.Attnviz.frame()")
    if not box:
        return 0.0
    px = imread(io.BytesIO(driver.get_screenshot_as_png()), format="png")[..., :3]
    x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
    crop = px[max(y, 0):y + h, max(x, 0):x + w]
    return float(np.asarray(crop).std()) if crop.size else 0.0


def load(driver, path: Path) -> dict[str, Any]:
    driver.get("about:blank")
    driver.get(path.as_uri())
    _wait(driver, "window.__bench && window.__bench.painted !== null")
    return driver.execute_script("return window.__bench")


def measure(atts: dict[int, Any], *, loads: int = 3, switches: int = 3, profile_at: int | None = None,
            all_tiles_max: int = 512, work: Path | None = None) -> dict[str, Any]:
    """Browser timings for the figure of each attention in ``atts`` ({tokens: Attention})."""
    work = Path(work or tempfile.mkdtemp(prefix="attnviz-bench-browser-"))
    pages = write_pages(atts, work / "pages")
    driver = make_driver(work / "profile")
    results: dict[str, Any] = {"rows": [], "profile": None}
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STAMP})
        # warm-up: the first load compiles BokehJS (V8 caches the code for later loads, as for a reader)
        first = load(driver, pages[min(pages)])
        results["first_ever_load_ms"] = first["painted"]
        for n, path in pages.items():
            att = atts[n]
            L, H = att.num_layers, att.num_heads
            paints = []
            for _ in range(loads):
                stamp = load(driver, path)
                paints.append(stamp["painted"])
            row: dict[str, Any] = {"n": n, "L": L, "H": H, "page_bytes": path.stat().st_size,
                                   "first_paint_ms": paints, "ready_ms": stamp["ready"],
                                   "pixels_std": painted_pixels(driver)}

            def switch(which: str, value: Any) -> float:
                out = driver.execute_async_script(SWITCH, which, value)
                return out["ms"]

            # starting view: last layer, mean of heads (decoded)
            row["head_ms"] = [switch("head", h) for h in range(min(switches, H))]   # same layer
            row["layer_new_ms"] = [switch("layer", l) for l in range(min(switches, L - 1))]  # decode a layer
            row["layer_seen_ms"] = [switch("layer", l) for l in (L - 1, 0, L - 1)][:switches]  # decoded before
            switch("head", "mean")
            row["mean_ms"] = [switch("layer", l) for l in range(min(switches, L - 1))]  # mean over heads
            if n <= all_tiles_max:
                row["all_layers_ms"] = switch("layer", "all")  # L tiles (mean of heads): decodes every layer
                t_all = switch("head", "all")  # L×H tiles
                row["all_tiles_ms"] = t_all
                row["all_tiles_px"] = driver.execute_script("var v = Attnviz.view(); return v.width * v.height;")
                row["all_tiles_image_px"] = driver.execute_script(
                    "var v = Attnviz.view(); return Math.ceil(v.width / v.step[0]) * Math.ceil(v.height / v.step[1]);")
                switch("layer", L - 1)
                switch("head", "mean")
            row["heap_mb"] = driver.execute_script(
                "return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null")
            row["errors"] = errors(driver)
            results["rows"].append(row)
            log(f"browser n={n}: first paint {statistics.median(paints):.0f} ms, head switch "
                f"{statistics.median(row['head_ms']):.1f} ms, new layer {statistics.median(row['layer_new_ms']):.1f} ms")
        if profile_at in pages:
            results["profile"] = profile(driver, pages[profile_at], atts[profile_at])
    finally:
        driver.quit()
    return results


def _cpu_profile_top(profile: dict[str, Any], top: int = 8) -> list[tuple[str, float]]:
    """Self time per function (ms) of a CDP CPU profile, largest first."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_ms: dict[str, float] = {}
    for sample, delta in zip(profile.get("samples", []), deltas[1:] + [0]):
        frame = nodes[sample]["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        name = f"{frame.get('functionName') or '(anonymous)'} [{url or frame.get('functionName')}]"
        self_ms[name] = self_ms.get(name, 0.0) + delta / 1000.0
    return sorted(self_ms.items(), key=lambda kv: -kv[1])[:top]


def profile(driver, path: Path, att) -> dict[str, Any]:
    """Where the time goes at this size: Chrome's task metrics for a load, CPU profiles of a load's
    script work and of a switch to a layer not decoded yet."""
    out: dict[str, Any] = {"n": att.num_tokens}
    driver.execute_cdp_cmd("Performance.enable", {})
    before = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 200})
    driver.execute_cdp_cmd("Profiler.start", {})
    stamp = load(driver, path)
    load_profile = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
    after = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    out["load_ms"] = stamp["painted"]
    out["metrics_ms"] = {k: 1000 * (after.get(k, 0) - before.get(k, 0)) for k in
                         ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}
    out["load_top"] = _cpu_profile_top(load_profile)
    driver.execute_cdp_cmd("Profiler.start", {})
    switched = driver.execute_async_script(SWITCH, "layer", 0)
    switch_profile = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
    out["switch_ms"] = switched["ms"]
    out["switch_top"] = _cpu_profile_top(switch_profile)
    return out


def switch_kinds(row: dict[str, Any]) -> dict[str, float]:
    """Every kind of switch measured at one size, name → median ms (the all-layers and all-tiles switches only up
    to the size they are measured at)."""
    kinds = {"head": "head_ms", "new layer": "layer_new_ms", "seen layer": "layer_seen_ms",
             "layer (mean of heads)": "mean_ms", "all layers": "all_layers_ms", "all L×H tiles": "all_tiles_ms"}
    out = {}
    for name, key in kinds.items():
        if row.get(key) is not None:
            value = row[key]
            out[name] = float(statistics.median(value) if isinstance(value, list) else value)
    return out


def report(result: dict[str, Any]) -> str:
    med = statistics.median
    rows = []
    for r in result["rows"]:
        rows.append([f"{r['L']}×{r['H']}", r["n"], human(r["page_bytes"]), f"{med(r['first_paint_ms']):.0f}",
                     f"{min(r['first_paint_ms']):.0f}–{max(r['first_paint_ms']):.0f}",
                     f"{med(r['head_ms']):.1f}", f"{med(r['layer_new_ms']):.1f}", f"{med(r['layer_seen_ms']):.1f}",
                     f"{med(r['mean_ms']):.1f}",
                     f"{r['all_layers_ms']:.0f}" if "all_layers_ms" in r else "—",
                     (f"{r['all_tiles_ms']:.0f} ({r['all_tiles_px'] / 1e6:.1f} M cells, image "
                      f"{r.get('all_tiles_image_px', r['all_tiles_px']) / 1e6:.1f} Mpx)") if "all_tiles_ms" in r else "—",
                     f"{r['heap_mb']:.0f}" if r.get("heap_mb") else "—",
                     "yes" if r["pixels_std"] > 0.02 and not r["errors"] else f"NO {r['errors'][:2]}"])
    lines = [table(["L×H", "tokens", "page", "first paint ms (median)", "range", "head switch ms",
                    "layer switch ms (new layer)", "layer switch ms (decoded)", "layer switch ms (mean of heads)",
                    "all layers ms", "all L×H tiles ms", "JS heap MB", "painted, no errors"], rows)]
    lines += ["", f"The very first load of the session (BokehJS compiled for the first time) painted at "
              f"{result['first_ever_load_ms']:.0f} ms; the table gives later loads (BokehJS in V8's code cache, "
              "as for a reader's second figure)."]
    p = result.get("profile")
    if p:
        m = p["metrics_ms"]
        lines += ["", f"**Profile at {p['n']} tokens.** A load (first paint {p['load_ms']:.0f} ms): Chrome's task "
                  f"metrics say {m['TaskDuration']:.0f} ms of main-thread tasks, of which script "
                  f"{m['ScriptDuration']:.0f} ms, layout {m['LayoutDuration']:.0f} ms, style "
                  f"{m['RecalcStyleDuration']:.0f} ms. Self time of the top functions (CPU profile, sampled):", ""]
        lines.append(table(["function [file]", "ms"], [[f"`{k}`", f"{v:.1f}"] for k, v in p["load_top"]]))
        lines += ["", f"A switch to a layer not decoded yet ({p['switch_ms']:.1f} ms):", ""]
        lines.append(table(["function [file]", "ms"], [[f"`{k}`", f"{v:.1f}"] for k, v in p["switch_top"]]))
    return "\n".join(lines)
