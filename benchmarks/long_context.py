"""Long inputs: a 12-layer × 12-head Llama-style model (random weights, grouped-query attention with 4 key/value
heads, hidden size 768) at 2,048 and 8,192 tokens.

Build side, each size in a fresh process (``--child``): the whole figure as a site build makes it (extraction through
our attention function, the cache, the page, its side files, the PNG) and its publication; wall time and peak
resident memory (the process's high-water mark, ``VmHWM``, model and Python included). Reader side, headless
Chromium on the published page from ``file://``: first paint (navigation start to the frame after the first view is
handed to Bokeh), the bytes the browser loaded before it (page, BokehJS, side files), a layer + head switch to a pair
not loaded yet, a zoom into 200 tokens, and the total bytes of the figure.

Commands::

    python -m benchmarks.long_context [--tokens 2048 8192] [--work DIR]        # measure; also run by benchmarks.run
    python -m benchmarks.gpu [--tokens 2048 8192]                              # GPU vs CPU: writes GPU.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, human, log, table
from .text import long_text

NAME = "llama-12x12"
TARGETS = {"peak_gib": 4.0, "before_paint_mib": 3.0, "first_paint_ms": 1500, "switch_ms": 300}


def make_llama12(folder: Path) -> str:
    """The model and a byte-level BPE tokenizer trained on the benchmark prose (seeded), saved in ``folder``."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        return str(folder)
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([long_text()] * 3, trainer=trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<s>", "</s>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="</s>",
                                   model_max_length=16384)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=768, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
                         max_position_embeddings=16384, bos_token_id=bos, eos_token_id=tok.token_to_id("</s>"))
    folder.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).eval().save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


def prompt(tokens: int) -> str:
    """The benchmark prose repeated until it is longer than ``tokens`` tokens of the model (cut by max_tokens)."""
    return "\n".join([long_text()] * max(1, tokens // 300 + 2))


# ------------------------------------------------------------------------------------------ build side

def child(args: argparse.Namespace) -> None:
    """One figure, built and published in this process; prints its numbers as JSON."""
    from mkdocs_attnviz.pipeline import FigureBuilder
    from mkdocs_attnviz.settings import Settings
    from mkdocs_attnviz.spec import build_spec

    work = Path(args.work)
    for old in (work / f"cache-{args.n}", work / f"site-{args.n}"):  # a cold build: nothing from an earlier run
        shutil.rmtree(old, ignore_errors=True)
    started = time.perf_counter()
    builder = FigureBuilder(Settings(cache_dir=str(work / f"cache-{args.n}"), models={NAME: args.model},
                                     device=args.device))
    spec = build_spec({"model": NAME, "max_tokens": str(args.n), "head": "mean"}, prompt(args.n))
    figure = builder.build(spec)
    site = work / f"site-{args.n}"
    builder.publish(site)
    seconds = time.perf_counter() - started
    peak = peak_rss()
    files = {suffix: (site / figure.filename(suffix)).stat().st_size for suffix in figure.files}
    print(json.dumps({"n": args.n, "build_s": seconds, "peak_bytes": peak, "key": figure.key, "files": files,
                      "bokeh": (site / "bokeh.min.js").stat().st_size, "page": str(site / figure.filename(".html")),
                      "description": figure.description}))


def peak_rss() -> int:
    """This process's peak resident memory in bytes: ``VmHWM`` (the high-water mark of its own address space; unlike
    ``getrusage``'s ``ru_maxrss``, which a child started by fork + exec inherits from its parent's size)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build_in_child(model: str, n: int, work: Path, device: str = "cpu") -> dict[str, Any]:
    cmd = [PYTHON, "-m", "benchmarks.long_context", "--child", "--n", str(n), "--model", model, "--work", str(work),
           "--device", device]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore", HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------- reader side

SWITCH_BOTH = """
var done = arguments[arguments.length - 1], layer = String(arguments[0]), head = String(arguments[1]);
var layerSel = document.getElementById("attnviz-layer"), headSel = document.getElementById("attnviz-head");
var root = document.documentElement, expected = layer + "/" + head, t0;
var obs = new MutationObserver(function () {
  if (root.getAttribute("data-attnviz-view") !== expected) return;
  obs.disconnect();
  requestAnimationFrame(function () { done({ ms: performance.now() - t0 }); });
});
obs.observe(root, { attributes: true, attributeFilter: ["data-attnviz-view"] });
t0 = performance.now();
layerSel.value = layer;
headSel.value = head;
headSel.dispatchEvent(new Event("change"));
"""

# zoom into tokens a..b: done once the page draws them (cell by cell past the overview), in the next frame
ZOOM = """
var done = arguments[arguments.length - 1], from = arguments[0], t0 = performance.now();
var overview = Attnviz.data.side.factor > 1;
Attnviz.zoom(from, arguments[1]);
(function poll() {
  var v = Attnviz.view();
  if (!overview || (v.detail && v.x0 === from) || performance.now() - t0 > 20000) {
    requestAnimationFrame(function () { done({ ms: performance.now() - t0, view: Attnviz.view() }); });
  } else setTimeout(poll, 5);
})();
"""

# every script element with a src (BokehJS, side files), with the time it was added
SCRIPTS = """
window.__scripts = [];
new MutationObserver(function (records) {
  records.forEach(function (r) {
    r.addedNodes.forEach(function (node) {
      if (node.tagName === "SCRIPT" && node.src) window.__scripts.push([node.src, performance.now()]);
    });
  });
}).observe(document, { childList: true, subtree: true });
"""


def _loaded_before_paint(driver) -> list[str]:
    """Names of the scripts the page loaded before its first paint (BokehJS, side files)."""
    found = driver.execute_script("var p = window.__bench.painted; return window.__scripts"
                                  ".filter(function (s) { return s[1] <= p; }).map(function (s) { return s[0]; });")
    return [url.rsplit("/", 1)[-1].split("?")[0] for url in found]


def browser_timings(page: Path, layers: int, heads: int, *, loads: int = 3, switches: int = 5,
                    zoom: tuple[int, int] = (100, 300), work: Path | None = None) -> dict[str, Any]:
    from . import browser

    work = Path(work or tempfile.mkdtemp(prefix="attnviz-bench-long-"))
    driver = browser.make_driver(work / "profile")
    out: dict[str, Any] = {}
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": browser.STAMP + SCRIPTS})
        browser.load(driver, page)  # BokehJS compiled once, as for a reader's second figure
        paints, before = [], []
        for _ in range(loads):
            stamp = browser.load(driver, page)
            paints.append(stamp["painted"])
            before = _loaded_before_paint(driver)
        folder = page.parent
        out["first_paint_ms"] = paints
        out["before_paint_files"] = [page.name] + before
        out["before_paint_bytes"] = sum((folder / name).stat().st_size for name in out["before_paint_files"]
                                        if (folder / name).is_file())
        pairs = [(layers - 2 - i % (layers - 1), (3 * i + 1) % heads) for i in range(switches)]
        out["switch_ms"] = [driver.execute_async_script(SWITCH_BOTH, layer, head)["ms"] for layer, head in pairs]
        zoomed = driver.execute_async_script(ZOOM, *zoom)
        out["zoom_ms"] = zoomed["ms"]
        out["zoom_view"] = zoomed["view"]
        out["errors"] = browser.errors(driver)
        out["pixels_std"] = browser.painted_pixels(driver)
        out["heap_mb"] = driver.execute_script(
            "return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null")
    finally:
        driver.quit()
    return out


def measure(sizes: tuple[int, ...], work: Path, *, loads: int = 3, switches: int = 5) -> dict[str, Any]:
    """Build-side and reader-side numbers at each size."""
    from . import browser

    model = make_llama12(work / NAME)
    rows = []
    for n in sizes:
        log(f"long context: building {n} tokens")
        built = build_in_child(model, n, work)
        log(f"long context: {n} tokens built in {built['build_s']:.0f} s, peak {human(built['peak_bytes'])}")
        if browser.available():
            built["browser"] = browser_timings(Path(built["page"]), 12, 12, loads=loads, switches=switches,
                                               work=work / f"browser-{n}")
        rows.append(built)
    return {"rows": rows}


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    for r in result["rows"]:
        n, b = r["n"], r.get("browser")
        if n == 2048:
            gib = r["peak_bytes"] / 1024 ** 3
            out.append((f"peak memory ≤ {TARGETS['peak_gib']:g} GiB (Llama 12×12, 2,048 tokens)", f"{gib:.2f} GiB",
                        gib <= TARGETS["peak_gib"]))
            if b:
                mib = b["before_paint_bytes"] / 1024 ** 2
                fp = statistics.median(b["first_paint_ms"])
                sw = statistics.median(b["switch_ms"])
                out.append((f"≤ {TARGETS['before_paint_mib']:g} MiB before first paint (2,048 tokens)",
                            f"{mib:.2f} MiB", mib <= TARGETS["before_paint_mib"]))
                out.append((f"first paint ≤ {TARGETS['first_paint_ms']} ms (2,048 tokens)", f"{fp:.0f} ms",
                            fp <= TARGETS["first_paint_ms"]))
                out.append((f"layer + head switch ≤ {TARGETS['switch_ms']} ms (2,048 tokens)", f"{sw:.0f} ms",
                            sw <= TARGETS["switch_ms"]))
        if n == 8192:
            ok = bool(b) and not b["errors"] and b["pixels_std"] > 0.02
            out.append(("8,192 tokens builds and opens", f"built in {r['build_s']:.0f} s" +
                        (f", first paint {statistics.median(b['first_paint_ms']):.0f} ms" if b else ""), ok))
    return out


def report(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        b = r.get("browser") or {}
        sides = {k: v for k, v in r["files"].items() if k.endswith(".js")}
        total = sum(r["files"].values()) + r["bokeh"]
        rows.append([r["n"], f"{r['build_s']:.0f} s", human(r["peak_bytes"]),
                     human(b["before_paint_bytes"]) if b else "—",
                     f"{statistics.median(b['first_paint_ms']):.0f}" if b else "—",
                     f"{statistics.median(b['switch_ms']):.0f}" if b else "—",
                     f"{b['zoom_ms']:.0f}" if b else "—",
                     f"{human(total)} ({len(sides)} side files)", human(r["files"][".html"]),
                     f"{b['heap_mb']:.0f}" if b and b.get("heap_mb") else "—",
                     "yes" if b and not b["errors"] and b["pixels_std"] > 0.02 else f"NO {b.get('errors')}"])
    lines = [table(["tokens", "build", "peak RSS", "before first paint", "first paint ms", "layer+head switch ms",
                    "zoom to 200 tokens ms", "total bytes", "page alone", "JS heap MB", "painted, no errors"], rows)]
    for r in result["rows"]:
        b = r.get("browser")
        if b:
            lines += ["", f"{r['n']} tokens: before the first paint the browser loaded "
                      + ", ".join(f"`{name.replace(r['key'], '<key>')}`" for name in b["before_paint_files"])
                      + f"; first paints {', '.join(f'{x:.0f}' for x in b['first_paint_ms'])} ms; switches "
                      + ", ".join(f"{x:.0f}" for x in b["switch_ms"]) + " ms."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.long_context", description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--work", default=None, help="folder for the model, caches and sites (default: temporary)")
    parser.add_argument("--device", default="cpu", help="device of the extraction (cpu, cuda...)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="attnviz-bench-long-"))
    if args.child:
        child(args)
        return 0
    result = measure(tuple(args.tokens), work)
    print(report(result))
    for name, value, ok in targets(result):
        print(f"{name}: {value} — {'held' if ok else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
