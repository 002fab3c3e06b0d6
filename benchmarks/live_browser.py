"""A live figure in headless Chromium: the reader's Enter to the redrawn figure, and the bytes of first use.

:func:`measure` (called by ``benchmarks.live``) opens a served live figure (its figure page, or a docs page whose
first frame is one), then submits each sentence in the figure's sentence box as a reader does (typing, Enter) and
reads what ``templates/attnviz-live.js`` measured inside the page: milliseconds from the form's submit (the Enter) to
the animation frame after next once the view has drawn the new sentence (``Attnviz.live.state().last_ms``).

Bytes come from the page's Resource Timing entries (``transferSize``, else ``encodedBodySize``: what came over the
wire, headers included where the browser says so): everything the figure page loaded before the reader asked
(``bytes_before``: the page, its scripts and styles, BokehJS), and everything the first sentence added (the manifest,
model, tokenizer, runtime modules and .wasm: ``bytes_first_use``, file by file in ``files_first_use``). A fresh
browser profile per call, so nothing comes from an earlier call's cache.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ENTRIES = """
return performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).map(function (e) {
  return [e.name, e.transferSize || e.encodedBodySize || 0, e.initiatorType || "navigation"];
});
"""


def _into_figure(driver, timeout: float) -> None:
    """Switch into the first live figure's frame when the page is a docs page."""
    from selenium.webdriver.common.by import By

    if driver.execute_script("return !!document.getElementById('attnviz-data')"):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = driver.find_elements(By.CSS_SELECTOR, "iframe.attnviz-frame")
        if frames:
            driver.execute_script("arguments[0].scrollIntoView()", frames[0])
            driver.switch_to.frame(frames[0])
            return
        time.sleep(0.05)
    raise RuntimeError("no figure frame on the page")


def _wait(driver, script: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script("return (" + script + ")")
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {script}")


def measure(url: str, sentences: Sequence[str], *, driver=None, timeout: float = 300.0) -> dict[str, Any]:
    """Submit ``sentences`` one after the other in the live figure at ``url`` (served over http).

    Returns ``first_s`` (Enter → redrawn, first sentence: loads the runtime and the model), ``later_s`` (the
    others, one each), ``model_s`` and ``draw_s`` (per sentence: onnxruntime-web's run alone, and the view's redraw
    up to the painted frame), ``bytes_before`` (what the figure page fetched before the reader asked), ``bytes_first_use``
    and ``files_first_use`` (what the first sentence fetched), ``offsite`` (URLs of another origin: none expected)
    and ``state`` (``Attnviz.live.state()`` at the end). ``driver``: a Selenium Chromium to use (its cache is then
    the caller's business); none: a fresh headless one, closed at the end."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    own = driver is None
    work = None
    if own:
        from .browser import make_driver

        work = Path(tempfile.mkdtemp(prefix="attnviz-live-"))
        driver = make_driver(work / "profile")
    try:
        driver.get(url)
        _into_figure(driver, timeout)
        _wait(driver, "window.Attnviz && window.Attnviz.ready === true && window.Attnviz.live", timeout)
        reason = driver.execute_script("return Attnviz.live.state().reason")
        if reason:
            raise RuntimeError(f"the figure cannot go live here: {reason}")
        time.sleep(0.5)  # anything the page would fetch by itself, it has fetched by now
        before = {name: (size, kind) for name, size, kind in driver.execute_script(ENTRIES)}
        box = driver.find_element(By.ID, "attnviz-live-text")
        times: list[float] = []
        parts: list[tuple[float, float]] = []  # per sentence: the model alone, the view's redraw
        files: dict[str, int] = {}
        for i, sentence in enumerate(sentences):
            box.clear()
            box.send_keys(sentence)
            box.send_keys(Keys.ENTER)
            state = _wait(driver, f"(function () {{ var s = Attnviz.live.state(); return s.phase === 'error' || "
                                  f"(s.phase === 'shown' && s.runs === {i + 1}) ? s : null; }})()", timeout)
            if state["phase"] == "error":
                raise RuntimeError(f"the page could not run the model: {state['error']}")
            times.append(state["last_ms"] / 1000.0)
            parts.append((state["model_ms"] / 1000.0, state["draw_ms"] / 1000.0))
            if i == 0:
                files = {name: size for name, size, _ in driver.execute_script(ENTRIES) if name not in before}
        origin = driver.execute_script("return location.origin")
        every = [name for name, _, _ in driver.execute_script(ENTRIES)]
        return {"first_s": times[0] if times else None, "later_s": times[1:],
                "model_s": [p[0] for p in parts], "draw_s": [p[1] for p in parts],
                "bytes_before": sum(size for size, _ in before.values()),
                "bytes_first_use": sum(files.values()), "files_first_use": files,
                "offsite": [u for u in every if not u.startswith((origin + "/", "data:", "blob:"))],
                "state": driver.execute_script("return Attnviz.live.state()")}
    finally:
        if own:
            driver.quit()
            shutil.rmtree(work, ignore_errors=True)
