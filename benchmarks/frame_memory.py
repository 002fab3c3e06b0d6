"""Browser memory on a page of many figures: Chromium's total resident memory for a Material page with 1, 10 and 30
small heatmaps, each scrolled to until it has drawn, and what each additional figure costs.

Run: ``python -m benchmarks.frame_memory [--figures 1,10,30] [--settle 3] [--package-root PATH] [--json out.json]``

The site is built by ``python -m mkdocs build`` in a subprocess whose ``PYTHONPATH`` is ``--package-root`` (default:
this checkout), so another checkout (``/path/to/main``) gives the numbers before a change. Each page is opened in a
fresh headless Chromium (the Debian package) from ``file://``, 1,100 × 900 px; the reader scrolls to each figure in
turn and waits until it says it is drawn (``Attnviz.ready``), then back to the top, and after ``--settle`` seconds
(3 by default; Chromium collects the garbage of released figures when the page is idle) the resident set sizes (RSS) of every process of that Chromium (psutil, the chromedriver's descendants) are summed. Per additional
figure: ``(RSS(30) − RSS(1)) / 29`` and ``(RSS(30) − RSS(10)) / 20``.
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


def measure_page(page: Path, profile: Path, settle: float = 3.0) -> dict[str, Any]:
    driver = make_driver(profile)
    try:
        driver.get(page.as_uri())
        frames = driver.find_elements("css selector", "iframe.attnviz-frame")
        start = time.monotonic()
        for frame in frames:
            driver.execute_script("arguments[0].scrollIntoView()", frame)
            deadline = time.monotonic() + 60
            driver.switch_to.frame(frame)  # a file:// figure page is of another origin: look from inside
            try:
                while not driver.execute_script(DRAWN):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{page.name}: a figure did not draw")
                    time.sleep(0.05)
            finally:
                driver.switch_to.default_content()
        elapsed = time.monotonic() - start
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(settle)
        live = driver.execute_script("return document.querySelectorAll('iframe.attnviz-frame:not([data-attnviz-away])')"
                                     ".length")
        return {"figures": len(frames), "rss": chromium_rss(driver), "seconds": elapsed, "live_frames": live}
    finally:
        driver.quit()


def measure(counts: tuple[int, ...] = (1, 10, 30), package_root: str | None = None, settle: float = 3.0
            ) -> dict[str, Any]:
    package_root = package_root or str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="attnviz-memory-") as tmp:
        work = Path(tmp)
        log(f"frame memory: building the site ({package_root})")
        site = build_site(work / "project", counts, package_root)
        rows = {}
        for n in counts:
            rows[n] = measure_page(site / f"figures-{n}" / "index.html", work / f"profile-{n}", settle)
            log(f"frame memory: {n} figures: {rows[n]['rss'] / 2**20:.0f} MiB")
    out: dict[str, Any] = {"package_root": package_root, "settle": settle, "pages": rows}
    lo, hi = min(counts), max(counts)
    if hi > lo:
        out["per_figure"] = (rows[hi]["rss"] - rows[lo]["rss"]) / (hi - lo)
    mid = sorted(counts)[len(counts) // 2]
    if lo < mid < hi:
        out["per_figure_upper"] = (rows[hi]["rss"] - rows[mid]["rss"]) / (hi - mid)
    return out


def report(result: dict[str, Any]) -> str:
    mib = 2 ** 20
    rows = [[n, f"{r['rss'] / mib:,.0f}", r["live_frames"], f"{r['seconds']:.1f}"] for n, r in result["pages"].items()]
    text = table(["figures", "Chromium RSS (MiB)", "frames loaded at the end", "scroll through (s)"], rows)
    text += f"\n\n(measured {result['settle']:g} s after scrolling back to the top)"
    if "per_figure" in result:
        text += f"\nper additional figure: {result['per_figure'] / mib:.1f} MiB (first to last)"
    if "per_figure_upper" in result:
        text += f", {result['per_figure_upper'] / mib:.1f} MiB (middle to last)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frame_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--figures", default="1,10,30", help="figures per page, comma-separated")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument("--package-root", default=None, help="the checkout whose mkdocs_attnviz builds the site")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if not available():
        print("Chromium or chromedriver is missing", file=sys.stderr)
        return 1
    result = measure(tuple(int(x) for x in args.figures.split(",")), args.package_root, args.settle)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
