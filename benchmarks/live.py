"""Live figures (issue 22): the reader's own sentence, run in the reader's browser.

A two-page site is built (``mkdocs build``, MiniLM): the same heatmap once plain and once with ``live="true"``; the
build exports the model (int8 weights where the bound allows) into the cache. Then:

* **the export** (build side): the size of each published file of first use — the manifest, ``model.onnx``,
  ``tokenizer.json`` and the runtime (onnxruntime-web's WASM build, its ``.wasm``, the tokenizers bundle) — its
  quantisation, the bound it was checked against and the max |Δ| measured on the author's sentence, and the cold
  build's time;
* **the page when nobody asks**: the bytes each figure page fetched before anyone typed (Resource Timing in headless
  Chromium, a fresh profile per page), plain against live, and whether any file of the model or the runtime was
  among them;
* **the reader's sentences** (``benchmarks.live_browser.measure``): the bytes the first sentence fetched, and the time
  from the reader's Enter to the redrawn figure — the first sentence (runtime and model loaded, then run) and the
  later ones (the model already in memory), measured inside the page. The server is Python's ``http.server``
  (no compression), so bytes are the files' own sizes.

Targets: first use ≤ 40 MiB for MiniLM, the first sentence ≤ 5 s, later ones ≤ 500 ms, the page unchanged when
nobody asks (no byte of the model or the runtime; the live page adds only the box's script).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, human, log, minilm_path, table

TARGETS = {"first_use_mib": 40.0, "first_s": 5.0, "later_s": 0.5}
AUTHOR = "The cat sat on the mat because it was tired."
#: the reader's sentences: the first loads the runtime and the model, the others reuse them
SENTENCES = ["My own sentence about a dog in the garden.", "猫がマットの上に座った。",
             "Attention heads look at different words.", "The bank of the river was steep.",
             "Every layer has several heads."]
#: file names of first use: the model's files and the runtime's (nothing of them may load before the reader asks)
FIRST_USE = ("live.json", "model.onnx", "tokenizer.json", "ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm",
             "tokenizers.min.mjs")


def make_site(root: Path, model: str) -> Path:
    """Two pages, one figure each: ``plain/`` and ``live/`` (the same block with ``live="true"``)."""
    if root.exists():
        shutil.rmtree(root)
    docs = root / "docs"
    for name, option in (("plain", ""), ("live", ' live="true"')):
        (docs / name).mkdir(parents=True)
        (docs / name / "index.md").write_text(f"# {name}\n\n```attnviz model=\"minilm\"{option}\n{AUTHOR}\n```\n",
                                              encoding="utf-8")
    (docs / "index.md").write_text("# Live figures\n", encoding="utf-8")
    (root / "mkdocs.yml").write_text(f"site_name: live\nsite_dir: site\nplugins:\n  - attnviz:\n      models:\n"
                                     f"        minilm: {model}\n", encoding="utf-8")
    return root


def build(root: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "mkdocs", "build", "--strict"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", NO_MKDOCS_2_WARNING="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"mkdocs build failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def published(site: Path) -> dict[str, Any]:
    """The files of first use as the build published them, and the export's manifest."""
    import json

    assets = site / "assets" / "attnviz"
    manifests = list((assets / "live").glob("*/live.json"))
    if len(manifests) != 1:
        raise RuntimeError(f"expected one export, found {len(manifests)}")
    folder = manifests[0].parent
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    files.update({p.name: p.stat().st_size for p in sorted((assets / "runtime").iterdir())
                  if not p.name.startswith("LICENSE")})
    return {"files": files, "manifest": json.loads(manifests[0].read_text(encoding="utf-8"))}


def page_bytes(url: str, work: Path) -> dict[str, Any]:
    """What a figure page fetched before anyone typed: total bytes and the file names (fresh profile)."""
    from . import browser
    from .live_browser import ENTRIES

    driver = browser.make_driver(work)
    try:
        driver.get(url)
        deadline = time.monotonic() + 120
        while not driver.execute_script("return !!(window.Attnviz && window.Attnviz.ready === true)"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the figure at {url} never drew")
            time.sleep(0.05)
        time.sleep(0.5)  # whatever the page fetches by itself, it has fetched by now
        entries = driver.execute_script(ENTRIES)
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)
    return {"bytes": sum(size for _, size, _ in entries), "names": sorted({name.split("?")[0].rsplit("/", 1)[-1]
                                                                          for name, _, _ in entries})}


def figure_url(site: Path, base: str, page: str) -> str:
    """The URL of the figure page the docs page ``page`` embeds."""
    import re

    html = (site / page / "index.html").read_text(encoding="utf-8")
    src = re.search(r'<iframe[^>]*\ssrc="([^"]+)"', html).group(1)
    return base + page + "/" + src


def measure(work: Path) -> dict[str, Any]:
    from . import browser
    from .reader import serve

    work.mkdir(parents=True, exist_ok=True)
    root = make_site(work / "site", minilm_path())
    cold_s = build(root)
    warm_s = build(root)
    log(f"live: cold build {cold_s:.1f} s (the export included), warm {warm_s:.1f} s")
    site = root / "site"
    out: dict[str, Any] = {"cold_s": cold_s, "warm_s": warm_s, **published(site)}
    if not browser.available():
        log("live: no Chromium here, browser timings skipped")
        return out
    from .live_browser import measure as in_browser

    server, base = serve(site)
    try:
        out["plain"] = page_bytes(figure_url(site, base, "plain"), work / "profile-plain")
        out["live"] = page_bytes(figure_url(site, base, "live"), work / "profile-live")
        out["reader"] = in_browser(figure_url(site, base, "live"), SENTENCES)
    finally:
        server.shutdown()
    r = out["reader"]
    log(f"live: first sentence {r['first_s']:.2f} s, later {', '.join(f'{t:.2f}' for t in r['later_s'])} s; "
        f"first use {human(r['bytes_first_use'])}")
    return out


def targets(res: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    if not res:
        return []
    m = res["manifest"]
    files = sum(res["files"].values())
    out: list[tuple[str, str, bool | None]] = [
        ("live: the export within its bound on the author's sentence and the probe sentences",
         f"{m['quant']}, max |Δ| {m['measured']:.4f} ≤ {m['bound']:.4f}", m["measured"] <= m["bound"]),
        (f"live: files of first use ≤ {TARGETS['first_use_mib']:g} MiB (MiniLM, as published)",
         f"{files / 2 ** 20:.2f} MiB (model.onnx {human(res['files']['model.onnx'])}, .wasm "
         f"{human(res['files']['ort-wasm-simd-threaded.wasm'])})", files / 2 ** 20 <= TARGETS["first_use_mib"])]
    r = res.get("reader")
    if r:
        got = r["bytes_first_use"] / 2 ** 20
        later = max(r["later_s"]) if r["later_s"] else None
        early = sorted(set(res["live"]["names"]) & set(FIRST_USE))
        out += [
            (f"live: bytes fetched on first use ≤ {TARGETS['first_use_mib']:g} MiB (browser)", f"{got:.2f} MiB",
             got <= TARGETS["first_use_mib"]),
            (f"live: Enter → redrawn figure, first sentence ≤ {TARGETS['first_s']:g} s", f"{r['first_s']:.2f} s",
             r["first_s"] <= TARGETS["first_s"]),
            (f"live: Enter → redrawn figure, later sentences ≤ {TARGETS['later_s'] * 1000:g} ms",
             f"max {later * 1000:.0f} ms, median {statistics.median(r['later_s']) * 1000:.0f} ms "
             f"({len(r['later_s'])} sentences)", later <= TARGETS["later_s"]),
            ("live: page when nobody asks — no byte of the model or the runtime",
             f"plain {human(res['plain']['bytes'])}, live {human(res['live']['bytes'])} "
             f"(+{human(res['live']['bytes'] - res['plain']['bytes'])}: the box's script); model/runtime files "
             f"loaded: {', '.join(early) or 'none'}", not early),
            ("live: no request leaves the site", ", ".join(r["offsite"]) or "none", not r["offsite"]),
        ]
    return out


def report(res: dict[str, Any]) -> str:
    m = res["manifest"]
    rows = [[name, human(size)] for name, size in res["files"].items()]
    rows.append(["**all**", human(sum(res["files"].values()))])
    text = [f"Export: {m['quant']} weights, max |Δ| {m['measured']:.4f} against transformers' eager attention on the "
            f"author's sentence and the export's probe sentences (bound {m['bound']:.4f}); {m['layers']} layers × "
            f"{m['heads']} heads, up to "
            f"{m['max_tokens']} tokens. Cold build (export included) {res['cold_s']:.1f} s, warm "
            f"{res['warm_s']:.1f} s.", "", table(["file of first use", "bytes"], rows)]
    r = res.get("reader")
    if r:
        text += ["", f"In Chromium: before anyone asks, the plain figure page fetched {human(res['plain']['bytes'])}, "
                 f"the live one {human(res['live']['bytes'])}. The first sentence fetched "
                 f"{human(r['bytes_first_use'])} and was drawn {r['first_s']:.2f} s after Enter; the later ones "
                 + ", ".join(f"{t * 1000:.0f}" for t in r["later_s"]) + " ms."]
        if r.get("model_s") and r.get("draw_s"):  # each sentence's time split: onnxruntime-web's run, the redraw
            text[-1] += (" Of each sentence's time, the model's run: "
                         + ", ".join(f"{t * 1000:.0f}" for t in r["model_s"]) + " ms; the view's redraw: "
                         + ", ".join(f"{t * 1000:.0f}" for t in r["draw_s"]) + " ms.")
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/attnviz-bench-live", help="folder for the site and its cache")
    args = parser.parse_args(argv)
    res = measure(Path(args.work))
    print(report(res))
    for name, value, ok in targets(res):
        print(f"{name}: {value}" + ("" if ok is None else (" (held)" if ok else " (missed)")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
