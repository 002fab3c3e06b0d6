"""Browser memory on a page of many figures: Chromium's total resident memory for a Material page with 1, 10 and 30
small heatmaps, each scrolled to until it has drawn, and what each additional figure costs.

Run: ``python -m benchmarks.frame_memory [--figures 1,10,30] [--soon 3] [--package-root PATH] [--json out.json]``

The site is built by ``python -m mkdocs build`` in a subprocess whose ``PYTHONPATH`` is ``--package-root`` (default:
this checkout), so another checkout (``/path/to/main``) gives the numbers before a change. Each page is opened in a
fresh headless Chromium (the Debian package) from ``file://``, 1,100 × 900 px; the reader scrolls to each figure in
turn and waits until it says it is drawn (``Attnviz.ready``), then back to the top. The resident set sizes (RSS) of
every process of that Chromium (psutil, the chromedriver's descendants) are summed at four moments: 1 s after the
page loaded (*at load*: from ``file://`` Chromium ignores ``loading="lazy"``, so this is what the page loads before
the reader scrolls); the highest sum seen while scrolling (*peak*, sampled after each figure drew); ``--soon`` seconds
after the reader is back at the top (3 by default); and then after a full garbage collection (CDP
``HeapProfiler.collectGarbage``) and 3 s more (*kept*: what the page holds, the figure the target is judged on).
*(reasoning)* Every figure page of one site runs in one renderer process (one V8 heap): a released figure's memory
is garbage that comes back only when V8 collects it, which Chromium does by itself once the page has been idle for
some 10–30 s (its memory reducer; when exactly varies from run to run, so a fixed wait measures its timing rather
than the page), or at once under memory pressure. The collection asked for gives that state without the wait;
the peak and the 3 s sums, garbage included, are reported beside it. Per additional figure:
``(RSS(30) − RSS(1)) / 29`` (first to last) and ``(RSS(30) − RSS(10)) / 20`` (middle to last).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from .browser import available, make_driver
from .common import MINILM, log, minilm_path, table

SENTENCES = ("The cat sat on the mat because it was tired.", "Time flies like an arrow.",
             "The river bank was muddy after the rain.")

#: inside a figure page: it has drawn (``Attnviz.ready``; ``attnvizReady`` before the page contract)
DRAWN = "return !!((window.Attnviz && window.Attnviz.ready === true) || window.attnvizReady === true)"


def build_site(folder: Path, counts: tuple[int, ...], package_root: str) -> Path:
    """A Material site with one page per count, each with that many small heatmaps (one model, three sentences,
    different layers and heads: one extraction per sentence, a render per figure)."""
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.md").write_text("# Figures\n", encoding="utf-8")
    for n in counts:
        blocks = [f"# {n} figures\n"]
        for i in range(n):
            blocks.append(f'```attnviz layer="{i % 6}" head="{i % 12}"\n{SENTENCES[i % len(SENTENCES)]}\n```\n')
        (docs / f"figures-{n}.md").write_text("\n".join(blocks), encoding="utf-8")
    (folder / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: Memory
        theme:
          name: material
          font: false
        plugins:
          - attnviz:
              models:
                {MINILM}: {minilm_path()}
              defaults:
                model: {MINILM}
        """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": package_root, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return folder / "site"


def chromium_rss(driver) -> int:
    """Bytes resident in every process of the driver's Chromium."""
    import psutil

    root = psutil.Process(driver.service.process.pid)
    total = 0
    for proc in root.children(recursive=True):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _live(driver) -> int:
    return driver.execute_script(
        "return document.querySelectorAll('iframe.attnviz-frame:not([data-attnviz-away])').length")


def wait_drawn(driver, frame, where: str, timeout: float = 60.0) -> None:
    """Wait until the figure in ``frame`` says it is drawn."""
    deadline = time.monotonic() + timeout
    driver.switch_to.frame(frame)  # a file:// figure page is of another origin: look from inside
    try:
        while not driver.execute_script(DRAWN):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{where}: a figure did not draw")
            time.sleep(0.05)
    finally:
        driver.switch_to.default_content()


def measure_page(page: Path, profile: Path, soon: float = 3.0) -> dict[str, Any]:
    driver = make_driver(profile)
    try:
        driver.get(page.as_uri())
        frames = driver.find_elements("css selector", "iframe.attnviz-frame")
        time.sleep(1.0)
        at_load, loaded_at_load = chromium_rss(driver), _live(driver)
        peak = at_load
        start = time.monotonic()
        for frame in frames:
            driver.execute_script("arguments[0].scrollIntoView()", frame)
            wait_drawn(driver, frame, page.name)
            peak = max(peak, chromium_rss(driver))
        elapsed = time.monotonic() - start
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(max(0.0, soon))
        rss_soon, live = chromium_rss(driver), _live(driver)
        driver.execute_cdp_cmd("HeapProfiler.enable", {})
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        time.sleep(3.0)
        return {"figures": len(frames), "rss": chromium_rss(driver), "rss_soon": rss_soon, "rss_peak": peak,
                "rss_load": at_load, "loaded_at_load": loaded_at_load, "seconds": elapsed, "live_frames": live}
    finally:
        driver.quit()


def _per_figure(rows: dict[int, dict[str, Any]], key: str, lo: int, hi: int) -> float:
    return (rows[hi][key] - rows[lo][key]) / (hi - lo)


def measure(counts: tuple[int, ...] = (1, 10, 30), package_root: str | None = None, soon: float = 3.0
            ) -> dict[str, Any]:
    package_root = package_root or str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="attnviz-memory-") as tmp:
        work = Path(tmp)
        log(f"frame memory: building the site ({package_root})")
        site = build_site(work / "project", counts, package_root)
        rows = {}
        for n in counts:
            rows[n] = measure_page(site / f"figures-{n}" / "index.html", work / f"profile-{n}", soon)
            log(f"frame memory: {n} figures: {rows[n]['rss'] / 2**20:.0f} MiB kept "
                f"(peak {rows[n]['rss_peak'] / 2**20:.0f} MiB)")
    out: dict[str, Any] = {"package_root": package_root, "soon": soon, "pages": rows}
    lo, hi = min(counts), max(counts)
    mid = sorted(counts)[len(counts) // 2]
    for key, name in (("rss", "per_figure"), ("rss_soon", "per_figure_soon"), ("rss_peak", "per_figure_peak"),
                      ("rss_load", "per_figure_load")):
        if hi > lo:
            out[name] = _per_figure(rows, key, lo, hi)
        if lo < mid < hi:
            out[name + "_upper"] = _per_figure(rows, key, mid, hi)
    return out


def report(result: dict[str, Any]) -> str:
    mib = 2 ** 20
    soon = result["soon"]
    rows = [[n, f"{r['rss_load'] / mib:,.0f} ({r['loaded_at_load']} frames loaded)", f"{r['rss_peak'] / mib:,.0f}",
             f"{r['rss_soon'] / mib:,.0f}", f"{r['rss'] / mib:,.0f}", r["live_frames"], f"{r['seconds']:.1f}"]
            for n, r in result["pages"].items()]
    text = table(["figures", "at load (MiB)", "peak while scrolling (MiB)", f"{soon:g} s after (MiB)",
                  "kept: after a garbage collection (MiB)", "frames loaded at the end", "scroll through (s)"], rows)
    lines = []
    for key, label in (("per_figure", "kept (after a garbage collection)"),
                       ("per_figure_soon", f"{soon:g} s after scrolling back to the top"),
                       ("per_figure_peak", "peak while scrolling"), ("per_figure_load", "at load")):
        if key in result:
            line = f"per additional figure, {label}: {result[key] / mib:.1f} MiB (first to last)"
            if key + "_upper" in result:
                line += f", {result[key + '_upper'] / mib:.1f} MiB (middle to last)"
            lines.append(line)
    return text + "\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frame_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--figures", default="1,10,30", help="figures per page, comma-separated")
    parser.add_argument("--soon", type=float, default=3.0, help="seconds idle before the first measure")
    parser.add_argument("--package-root", default=None, help="the checkout whose mkdocs_attnviz builds the site")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if not available():
        print("Chromium or chromedriver is missing", file=sys.stderr)
        return 1
    result = measure(tuple(int(x) for x in args.figures.split(",")), args.package_root, args.soon)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
