"""The one command: ``python -m benchmarks.run [--quick]`` (from the repository root).

Runs every benchmark (page weight, warm and cold builds, browser, scaling), prints the results and writes
them to ``benchmarks/RESULTS.md`` with the machine, date, versions and commands. Ratios are measured inside
one run; absolute times depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import browser, builds, frame_memory, live, long_context, page_weight, reader, scaling, serve, smollm2
from .common import (BERT12, MINILM, ROOT, cpu_probe, extract_attention, human, log, machine, model_paths, table,
                     timed)
from .text import long_text

SHORT = {MINILM: "MiniLM", BERT12: "BERT 12×12"}
ALL = ("weight", "builds", "browser", "scaling", "long", "reader", "serve", "memory", "smollm2", "live")
#: what the field trials measured before issue 14 (../shared/notes/field-trials.md), shown beside our numbers
BEFORE = {"six_first": "2.6 s", "six_all": "3.2 s", "one": "0.8 s", "own": "50 KiB (8 tokens)", "single": "8.4 MiB",
          "cold": "2.1–3.2", "edit": "13.8 s",
          # a5e86fd by this benchmark: it drew every frame at load and its release was measured 3 s after (21.4)
          "memory": "kept 2.6 MiB, peak 20.6 MiB, at load 13.3 MiB at a5e86fd"}


def plan(quick: bool) -> dict[str, Any]:
    if quick:
        return {"tokens": (10, 50, 200), "bertviz_real_max": 50, "bertviz_exact_max": 200, "figures": 10,
                "rounds": 1, "browser": {MINILM: (50, 200)}, "loads": 1, "switches": 2, "profile_n": 200,
                "long": (2048,), "reader_loads": 1}
    return {"tokens": (10, 50, 200, 512), "bertviz_real_max": 200, "bertviz_exact_max": 512, "figures": 50,
            "rounds": 2, "browser": {MINILM: (50, 200, 512), BERT12: (200, 512)}, "loads": 3, "switches": 3,
            "profile_n": 512, "long": (2048, 8192), "reader_loads": 5}


def targets(res: dict[str, Any]) -> list[list[str]]:
    """(target, measured, held?) for every target of the issue that this run measured."""
    out: list[list[str]] = []

    def add(name: str, value: str, ok: bool | None, why: str = "") -> None:
        out.append([name, value, "—" if ok is None else ("**held**" if ok else "**missed**"), "" if ok else why])

    w = res.get("weight")
    if w:
        at200 = [r for r in w["rows"] if r["n"] == 200]
        mini = [r for r in at200 if r["model"] == MINILM]
        if mini:
            ratio = mini[0]["raw"] / mini[0]["floor"]
            add("page ≤ 0.35 × floor (MiniLM, 200 tokens, raw)", f"{ratio:.3f} × floor", ratio <= 0.35)
        for r in at200:
            for view in ("head_view", "model_view"):
                if r.get(view):
                    first, tenth = page_weight.ratios(r, view, w["bokehjs_raw"])
                    add(f"≥ 100× smaller than bertviz {view}, BokehJS counted ({SHORT.get(r['model'], r['model'])}, "
                        "200 tokens) [issue 19]", f"first figure {first:,.0f}× (page + BokehJS); ten figures "
                        f"{tenth:,.0f}× (ten pages + BokehJS once)", first >= 100,
                        f"BokehJS ({human(w['bokehjs_raw'])}) is "
                        f"{w['bokehjs_raw'] / (w['bokehjs_raw'] + r['raw']):.0%} of a reader's first figure; the "
                        f"page alone ({human(r['raw'])}, {r['raw'] / r['floor']:.3f} × the 8-bit floor) is "
                        f"{r[view]['raw'] / r['raw']:,.0f}× smaller; 100× the first figure would need BokehJS ≤ "
                        f"{human(max(0, r[view]['raw'] / 100 - r['raw']))}")
        worst = max(r["error"] for r in w["rows"])
        add("decoding error ≤ 1/255 (all sizes)", f"{worst:.5f} = 1/{1 / worst:.0f}", worst <= 1 / 255)
    b = res.get("builds")
    if b:
        t = b["times"]
        warm = t["warm"]["min"] / t["text"]["min"]
        cold = t["cold"]["min"] / t["bare"]["min"]
        mods = b["checks"].get("warm_modules", {})
        add(f"warm rebuild ≤ 1.2 × text-only site ({b['figures']} figures)", f"{warm:.2f}", warm <= 1.2, warm_why(b))
        add(f"warm rebuild ≤ 1.15 × text-only site ({b['figures']} figures; the issues name ten) [issues 17, 19]",
            f"{warm:.2f}", warm <= 1.15, warm_why(b))
        if "warm_ten" in t:
            ten = t["warm_ten"]["min"] / t["text_ten"]["min"]
            add(f"warm rebuild ≤ 1.15 × text-only site ({builds.TEN} figures) [issues 17, 19]", f"{ten:.2f}",
                ten <= 1.15, warm_why(b, "warm_ten", "text_ten"))
        add("warm rebuild never imports torch", f"torch imported: {mods.get('torch')}, transformers: "
            f"{mods.get('transformers')}", mods.get("torch") is False and mods.get("transformers") is False)
        add(f"cold build ≤ 2.0 × bare load + forward script ({b['figures']} figures) [issue 19]",
            f"{cold:.2f} × (before: {BEFORE['cold']} ×)", cold <= 2.0, cold_why(b))
    br = res.get("browser")
    if br:
        for model, rb in br.items():
            for r in rb["rows"]:
                name = SHORT.get(model, model)
                if r["n"] == 200:
                    fp = statistics.median(r["first_paint_ms"])
                    add(f"first paint ≤ 1 s ({name}, 200 tokens)", f"{fp:.0f} ms", fp <= 1000)
                    kinds = browser.switch_kinds(r)
                    slow = max(kinds, key=kinds.get)
                    add(f"every layer/head switch ≤ 100 ms ({name}, 200 tokens; kinds: {', '.join(kinds)}) "
                        "[issue 19]", f"{kinds[slow]:.0f} ms (slowest: {slow})", kinds[slow] <= 100,
                        f"the {slow} switch")
                if r["n"] == 512:
                    ok = r["pixels_std"] > 0.02 and not r["errors"]
                    add(f"512 tokens loads and works ({name})", f"first paint {statistics.median(r['first_paint_ms']):.0f} ms,"
                        f" switches {statistics.median(r['layer_new_ms']):.0f} ms", ok)
    if res.get("long"):
        for name, value, ok in long_context.targets(res["long"]):
            add(name + " [issue 13]", value, ok)
    r = res.get("reader")
    if r:
        own, single = max(r["bytes"]["own"]), r["single_file"]
        add("a small figure's own bytes ≤ 12 KiB (8–10 tokens) [issue 14]",
            f"{human(own)} (before: {BEFORE['own']})", own <= 12 * 1024)
        add("single-file report, five small figures ≤ 1.6 MiB [issue 19]",
            f"{human(single)} (before: {BEFORE['single']})", single <= 1.6 * 1024 ** 2)
        rb = r.get("browser")
        if rb:
            first, every, one = (statistics.median(rb[k]) for k in ("six_first_ms", "six_all_ms", "one_ms"))
            add("six small figures: first ready ≤ 0.6 s [issue 14]", f"{first / 1000:.2f} s (before: "
                f"{BEFORE['six_first']})", first <= 600 and not rb["errors"],
                reader.why(rb.get("six_first_stages"), "the first figure drawn"))
            add("six small figures: all ready while scrolling ≤ 2.5 s [issue 14]", f"{every / 1000:.2f} s (before: "
                f"{BEFORE['six_all']})", every <= 2500 and not rb["errors"],
                reader.why(rb.get("six_all_stages"), "the last figure drawn"))
            add("one small figure alone ≤ 0.5 s [issue 14]", f"{one / 1000:.2f} s (before: {BEFORE['one']})",
                one <= 500 and not rb["errors"], reader.why(rb.get("one_stages"), "the figure"))
    mem = res.get("memory")
    if mem and "per_figure" in mem:
        per = mem["per_figure"] / 2 ** 20
        also = "".join(f", {label} {mem[key] / 2 ** 20:.1f} MiB" for key, label in
                       (("per_figure_soon", f"{mem.get('soon', 3):g} s after scrolling"),
                        ("per_figure_peak", "peak while scrolling"), ("per_figure_load", "at load")) if key in mem)
        add("browser memory ≤ 5 MiB per additional figure at 30 figures, kept after a garbage collection [issue 20]",
            f"{per:.1f} MiB{also} (before: {BEFORE['memory']})", per <= 5)
        if "per_figure_peak" in mem:  # the same target on the sums garbage included: what a reader's machine holds
            peak = mem["per_figure_peak"] / 2 ** 20
            pages = {str(k): v for k, v in mem.get("pages", {}).items()}  # int keys here, str keys from JSON
            why = ""
            if {"1", "10"} <= set(pages) and pages["10"]["loaded_at_load"] > 1:
                one, ten = pages["1"], pages["10"]
                frame = (ten["rss_load"] - one["rss_load"]) / (ten["loaded_at_load"] - 1) / 2 ** 20
                why = (f"{frame:.0f} MiB a drawn frame at load (10 figures, {ten['loaded_at_load']} frames drawn, "
                       f"against 1); from 10 to 30 figures the peak grows "
                       f"{mem.get('per_figure_peak_upper', 0) / 2 ** 20:.1f} MiB a figure. *(reasoning)* each drawn "
                       "frame evaluates its own BokehJS, and a released frame's memory is garbage until V8 collects "
                       "it")
            add("browser memory ≤ 5 MiB per additional figure at 30 figures, peak while scrolling (garbage not yet "
                "collected) [issue 20]", f"{peak:.1f} MiB", peak <= 5, why)
    for name, value, ok in smollm2.targets(res.get("smollm2")):
        add(name + " [issue 18]", value, ok)
    for name, value, ok in live.targets(res.get("live")):
        add(name + " [issue 22]", value, ok)
    sv = res.get("serve")
    if sv:
        for name, value, ok, why in serve.targets(sv):
            add(name, f"{value} (before: {BEFORE['edit']})", ok, why)
    return out


def warm_why(b: dict[str, Any], warm: str = "warm", text: str = "text") -> str:
    """Why a warm rebuild misses its target: this run's times and the profiled warm build's shares."""
    t = b["times"]
    extra = (t[warm]["min"] - t[text]["min"]) * 1000
    n = b["figures"] if warm == "warm" else builds.TEN
    text_ = (f"the best warm build took {extra:.0f} ms more than the best text-only build ({extra / n:.1f} ms a "
             f"figure)")
    prof = b.get("profile_warm")
    if prof and warm == "warm":
        total, ms = prof["total_profiled"], {label: 1000 * prof["buckets"].get(label, 0.0)
                                             for label, _, _ in builds.WARM_BUCKETS}
        (read, read_ms), (embed, embed_ms), (blocks, blocks_ms), (publish, publish_ms) = ms.items()
        text_ += (f"; under cProfile the plugin's work was {blocks} {blocks_ms:.0f} ms (of which {read} "
                  f"{read_ms:.0f} ms, {embed} {embed_ms:.0f} ms) and {publish} {publish_ms:.0f} ms, of the build's "
                  f"{total:.2f} s")
    return text_


def cold_why(b: dict[str, Any]) -> str:
    """Why the cold build misses its target: this run's numbers (the profile is in section 2–3)."""
    t, buckets = b["times"], b.get("profile", {}).get("buckets", {})
    png = sum(v for k, v in buckets.items() if k.startswith("PNG"))
    text = (f"the PNG fallbacks take {png:.1f} s of the profiled build ({png / b['figures']:.2f} s a figure)"
            if png else "no profile of the cold build in this run")
    if "cold_nopng" in t:
        text += (f"; with no PNG at all (`fallback_png: false`) the cold build is "
                 f"{t['cold_nopng']['min'] / t['bare']['min']:.2f} × the script")
    return text


def write_results(res: dict[str, Any], args: argparse.Namespace, seconds: float, path: Path) -> str:
    m = res["machine"]
    parts = ["# Benchmark results", "",
             f"Produced by `{res['command']}` at commit {m['commit']} on {m['date']} in {seconds / 60:.1f} min"
             f"{' (quick run: smaller sizes, fewer repeats)' if args.quick else ''}. "
             "Do not edit by hand: run the command again.", "",
             "## Machine", "", table(["", ""], [[k, v] for k, v in m.items()]), "",
             "*CPU probe*: a fixed pure-Python loop of 3 million steps, best of three (`benchmarks.common.cpu_probe`), "
             "at the start and the end of the run. On this shared machine it moves between runs, and the absolute "
             "times of a run (first ready, switches, serve edits) move with it; ratios move less.", ""]
    parts += ["## Targets", "", table(["target (issue 3 unless marked)", "measured", "", "why missed"], targets(res)),
              ""]
    if "weight" in res:
        parts += ["## 1. Page weight", "",
                  "One figure page that can show every layer and head (initial view: last layer, mean of heads), "
                  "`resources: local`. *raw* is the bytes served (HTML + embedded data), *gzip* is gzip -6. "
                  "bertviz 1.4.1 got the very same attention tensors and tokens, `html_action=\"return\"`. "
                  "The max error is over every weight, decoding the page's own blobs exactly as view-heatmap.js does, "
                  "against the float32 weights the model returned.", "", page_weight.report(res["weight"]), ""]
        rows = []
        for r in res["weight"]["rows"]:
            lb = r["layer_bytes"]
            rows.append([SHORT.get(r["model"], r["model"]), r["n"], human(r["raw"] - sum(lb)), human(sum(lb)),
                         human(min(lb)) + " – " + human(max(lb))])
        parts += ["Split of our page: fixed part (HTML, CSS, view-heatmap.js, Bokeh document, token JSON) and the "
                  "per-layer blobs (base64 of deflate of uint8):", "",
                  table(["model", "tokens", "page without blobs", "blobs", "one layer"], rows), ""]
    if "builds" in res:
        parts += ["## 2–3. Warm rebuild and cold build", "", builds.report(res["builds"]), "",
                  "Commands: `" + res["builds"]["commands"]["figure site"] + "` (figure site and text-only site, "
                  "generated under a temporary folder); `" + res["builds"]["commands"]["bare"].replace(
                      str(ROOT) + "/", "") + "`.", ""]
    if "browser" in res:
        parts += ["## 4. Browser", "", f"Headless Chromium ({m['chromium']}), pages opened from `file://`, "
                  "BokehJS next to them as in a built site. Times in ms; switch times are medians of several "
                  "switches.", ""]
        for model, rb in res["browser"].items():
            parts += [f"### {SHORT.get(model, model)}", "", browser.report(rb), ""]
    if "scaling" in res:
        s = res["scaling"]
        parts += ["## 5. Scaling", "",
                  "Bytes per weight stay flat for bertviz (it writes every float twice as JSON text) and fall with "
                  "tokens for attnviz (deflate finds more structure in bigger matrices). Build-side seconds, one "
                  "run each, model already loaded:", "", scaling.report(res["weight"], s["extract_s"], s["png_s"],
                                                                        s.get("profile")), ""]
    if "long" in res:
        parts += ["## 6. Long inputs", "", long_context.__doc__.split("\n\n")[0].replace("\n", " "), "",
                  "Build: a fresh process per size, cold cache, the figure built and published as a site build does "
                  "it (`python -m benchmarks.long_context --child`); peak RSS is the process's high-water mark (`VmHWM`), "
                  "model and Python included. Reader: headless Chromium, the published page from `file://`; the bytes "
                  "before the first paint are the page and every script it had loaded by then (BokehJS, side files); "
                  "a switch changes layer and head at once to a pair not loaded yet (median of 5); the zoom goes to "
                  "200 tokens.", "", long_context.report(res["long"]), ""]
    if "reader" in res:
        parts += ["## 7. A reader: a page of six small figures", "", prose(reader.__doc__.split("\n\n", 1)[1]), "",
                  reader.report(res["reader"]), "",
            f"Commands: `mkdocs build --strict` of the generated site, served by `http.server` from this process; "
            f"`attnviz report SPEC --single-file -o report.html`. Times are medians of the loads "
            f"({len(res['reader'].get('browser', {}).get('one_ms', []))}); "
            "each figure's time on the last load of the six-figure page: "
            + ", ".join(f"{t:.0f}" for t in res["reader"].get("browser", {}).get("six_each_ms", [])) + " ms.", ""]
    if "serve" in res:
        parts += ["## 8. A writer: `mkdocs serve`", "", prose(serve.__doc__.split("\n\n", 1)[1]), "",
                  serve.report(res["serve"]), ""]
    if "memory" in res:
        parts += ["## 9. Browser memory: a page of many figures", "", prose(frame_memory.__doc__.split("\n\n", 1)[1]),
                  "", frame_memory.report(res["memory"]), ""]
    if "live" in res:
        parts += ["## 10. Live figures: the reader's sentence in the browser", "",
                  prose(live.__doc__.split("\n\n", 1)[1]), "", live.report(res["live"]), ""]
    parts += ["## Reading", "", "Sentences marked *(reasoning)* explain the design; every number in this file comes "
              "from this run.", "", *reading(res), ""]
    text = "\n".join(parts)
    path.write_text(text, encoding="utf-8")
    return text


def prose(doc: str) -> str:
    """A module docstring as Markdown: wrapped lines joined, bullets and paragraphs kept, reST roles dropped."""
    out: list[str] = []
    for line in doc.strip().splitlines():
        line = line.strip()
        if not line:
            out.append("")
        elif line.startswith("* ") or not out or not out[-1]:
            out.append(line)
        else:
            out[-1] += " " + line
    text = "\n".join(out).replace("``", "`")
    return re.sub(r":(?:data|func|mod|class|meth):`~?([^`]+)`", r"`\1`", text)


def reading(res: dict[str, Any]) -> list[str]:
    """A short reading of the numbers (generated from them, so it cannot go stale)."""
    out = []
    held = [t for t in targets(res) if "held" in t[2]]
    missed = [t for t in targets(res) if "missed" in t[2]]
    out.append(f"* {len(held)} of {len(held) + len(missed)} measured targets hold"
               + (": missed " + "; ".join(f"{t[0]} ({t[1]})" for t in missed) + "." if missed else "."))
    w = res.get("weight")
    if w:
        fixed = min(r["raw"] - sum(r["layer_bytes"]) for r in w["rows"])
        per = [r["head_view"]["raw"] / r["floor"] for r in w["rows"] if r.get("head_view")]
        out.append("* **Page weight.** *(reasoning)* Weights are stored as `uint8` (`round(w·255)`, error ≤ 1/510), "
                   "deflated (zlib level 6) per layer and base64-encoded inside the page, so the page works from "
                   "`file://` with no side file of its own; base64 costs a third on top of the deflated bytes. The "
                   f"page measured here stands alone (its part without the blobs: {human(fixed)} at the smallest "
                   "size, the shared scripts put into it); in a site the shared scripts, the Bokeh document and "
                   "BokehJS are files every figure links (section 7)."
                   + (f" bertviz's head view costs {min(per):.0f}–{max(per):.0f} bytes per weight in this run (it "
                      "writes each weight as a float repr, twice), which is why the ratio grows with tokens."
                      if per else ""))
        out.append("* **Lazy decoding, and where the line is.** *(reasoning)* Every layer is in the page (a `file://` page may "
                   "not fetch side files), but no layer is inflated before it is shown: the first paint decodes "
                   "only the initial layer, and a layer is decoded the first time it is picked, then kept. The line "
                   "is therefore at zero: at every size, layers are decoded on demand, never all at once, because "
                   "a first visit to a layer costs only the decoding of one layer (the new-layer and seen-layer "
                   "columns of section 4), while decoding all layers up front would add that cost times "
                   "the number of layers to the first paint. What is *not* deferred is the download and the HTML "
                   "parse of the whole page (a few MiB at 512 tokens): moving layers to side files would need "
                   "`fetch`, which `file://` forbids; side `.js` files loaded with `<script>` tags would work and "
                   "are the next step if pages ever get too heavy (e.g. beyond 512 tokens × 24 layers).")
    b = res.get("builds")
    if b:
        p = b.get("profile", {}).get("buckets", {})
        render_s = sum(v for k, v in p.items() if k.startswith(("figure page", "PNG")))
        out.append(f"* **Builds.** *(reasoning, with this run's profile)* A warm rebuild only reads the render cache (JSON + file hashes) and publishes its files (hard links to the checked cache files where the system allows, else copies); "
                   "torch and transformers are never imported. A cold build pays what the bare script pays "
                   "(importing torch and transformers, loading the model, the forward passes) plus rendering: in "
                   f"the profile above rendering is {render_s:.1f} s for {b['figures']} figures, most of it the "
                   "matplotlib PNG fallback (drawing the token labels and encoding the PNG; its layout is computed, "
                   "not searched for); the page is cheap because each process builds the Bokeh document once (a site shares it as "
                   "a file, each page holds its own numbers). That per-figure PNG cost, and the fixed cost of a "
                   "MkDocs build with the plugin (importing mkdocs, bokeh and jinja, fingerprinting the model files, "
                   "writing the cache), are what stand between the cold build and the bare script.")
    br = res.get("browser")
    if br:
        out.append("* **Browser.** *(reasoning)* First paint is dominated by BokehJS start-up and embedding the document (the "
                   "CPU profile at the largest size shows it); a switch decodes at most one layer (`atob` + inflate), "
                   "computes the head/mean/max matrix and lets Bokeh colour-map the image (`v_compute`). The "
                   "all-layers × all-heads view at 512 tokens is the one heavy case: it maps tens of millions of "
                   "pixels.")
    lg = res.get("long")
    if lg:
        rows = {r["n"]: r for r in lg["rows"]}
        parts = []
        for n, r in sorted(rows.items()):
            b = r.get("browser") or {}
            parts.append(f"{n:,} tokens: {r['build_s']:.0f} s and {human(r['peak_bytes'])} at most to build, "
                         f"{len([s for s in r['files'] if s.endswith('.js')])} side files, "
                         + (f"{human(b['before_paint_bytes'])} loaded before a first paint at "
                            f"{statistics.median(b['first_paint_ms']):.0f} ms" if b else "no browser"))
        out.append("* **Long inputs.** " + "; ".join(parts) + ". *(reasoning)* Memory stays near the model's own because the "
                   "attention is computed through our attention function in chunks of query rows (only over the key "
                   "columns the mask leaves open) and each chunk is quantised and compressed at once: no layer is ever "
                   "whole in float32, and transformers keeps no list of layers (`output_attentions` off). The page "
                   "holds only the tokens; before its first paint it loads BokehJS and one side file (the mean of the "
                   "initial layer, an overview of at most 1,024 blocks a side beyond 2,048 tokens), so the bytes before "
                   "the first paint hardly grow with the input. A switch loads one more side file and colour-maps at most "
                   "2,048² (or 1,024²) cells; a zoom beyond the overview inflates the full matrix of one head.")
    r = res.get("reader")
    if r:
        out.append("* **Reader.** *(reasoning)* A figure page holds only its own data and words: the shared scripts, the words of "
                   "its language, the Bokeh document (one per colour map, language and pair/no pair) and BokehJS are "
                   "files of the site, versioned by their content, so the browser keeps them across figures and "
                   "pages. The figures of a host page take turns (a queue in the host page that every figure page "
                   "runs the same code on): the one nearest the viewport draws first and loads BokehJS only then, "
                   "so a reader's first figure no longer waits for five others evaluating BokehJS on the same "
                   "thread. From `file://` (another origin to Chromium) there is no queue and each figure draws at "
                   "once. The single-file report carries each figure page in `srcdoc` and BokehJS and the shared "
                   "scripts once, run by every figure from the host page's inert copy.")
    sv = res.get("serve")
    if sv:
        first, later = sv["first"], sv["later"]
        out.append(f"* **Writer.** On a machine with the model's quick preview, the first edit (1 s after the server "
                   f"first served) was rebuilt {later['edits'][0]['s']:.2f} s after it, the second "
                   f"{later['edits'][-1]['s']:.2f} s after it (previewed: "
                   f"{', '.join(str(e['previewed']) for e in later['edits'])}); the previews were ready "
                   f"{later['previews_s']:.1f} s after the start. The first serve on a machine (no preview yet) "
                   f"rebuilt its first edit {first['edits'][0]['s']:.2f} s after it, with the models loaded "
                   f"{first['ready_s']:.1f} s after the start, and exported the preview "
                   f"{first['exported_s']:.1f} s after the start. *(reasoning)* Without a preview an early edit "
                   "waits for torch and transformers to import (seconds here); a preview needs onnxruntime, its "
                   "session and the tokenizer only.")
        if sv.get("sphinx"):
            rows = sv["sphinx"]  # without, on (none yet), on (with the preview): serve.SPHINX_EDITS
            out.append(f"* **Writer, Sphinx.** A new `sphinx-build` after an edit (what `sphinx-autobuild` runs): "
                       f"{rows[0]['s']:.2f} s without previews, {rows[-1]['s']:.2f} s with `ATTNVIZ_PREVIEWS=on` and "
                       f"the model's preview on this machine ({rows[0]['s'] / rows[-1]['s']:.1f}× less); the build "
                       f"that ran PyTorch and exported the preview took {rows[1]['s']:.2f} s.")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (about 2 minutes)")
    parser.add_argument("--only", action="append", choices=ALL, help="run only this benchmark (repeatable)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")), help="results file")
    parser.add_argument("--work", default=None, help="folder for generated sites and models (default: a temp folder)")
    args = parser.parse_args(argv)
    only = set(args.only or ALL)
    p = plan(args.quick)
    started = time.perf_counter()
    work = Path(args.work or tempfile.mkdtemp(prefix="attnviz-bench-"))
    cmd = "python -m benchmarks.run" + (" --quick" if args.quick else "") + "".join(f" --only {o}" for o in args.only or [])
    res: dict[str, Any] = {"machine": machine(), "command": cmd}
    log(f"work folder {work}")

    paths = model_paths(work)
    atts: dict[str, dict[int, Any]] = {}
    extract_s: dict[tuple[str, int], float] = {}
    need = set(p["tokens"]) | {n for ns in p["browser"].values() for n in ns}
    if only & {"weight", "browser", "scaling"}:
        for model, path in paths.items():
            extract_attention(model, path, long_text(), 10)  # loads the model once: later times are forwards
            atts[model] = {}
            for n in sorted(need):
                seconds, att = timed(lambda: extract_attention(model, path, long_text(), n))
                atts[model][n] = att
                extract_s[(model, n)] = seconds
        from mkdocs_attnviz import extract
        extract.clear_models()
    weights_in = {m: {n: a for n, a in by.items() if n in p["tokens"]} for m, by in atts.items()}

    if only & {"weight", "scaling"}:
        res["weight"] = page_weight.measure(weights_in, bertviz_real_max=p["bertviz_real_max"],
                                            bertviz_exact_max=p["bertviz_exact_max"])
    if "scaling" in only:
        png_s = {}
        for model, by in weights_in.items():
            for n, att in by.items():
                png_s[(model, n)] = scaling.png_seconds(att)
        prof_att = atts[MINILM][p["profile_n"]]
        res["scaling"] = {"extract_s": extract_s, "png_s": png_s,
                          "profile": (SHORT[MINILM], p["profile_n"], scaling.profile_render(prof_att))}
        log("scaling done")
    if "browser" in only:
        if browser.available():
            res["browser"] = {}
            for model, sizes in p["browser"].items():
                res["browser"][model] = browser.measure(
                    {n: atts[model][n] for n in sizes}, loads=p["loads"], switches=p["switches"],
                    profile_at=p["profile_n"] if model == MINILM else None, work=work / f"browser-{SHORT[model][:4]}")
        else:
            log("browser benchmark skipped: chromium or chromedriver missing")
    if "builds" in only:
        res["builds"] = builds.measure(paths[MINILM], figures=p["figures"], rounds=p["rounds"], work=work / "builds")
    if "long" in only:
        res["long"] = long_context.measure(p["long"], work / "long")
    if "reader" in only:
        res["reader"] = reader.measure(paths[MINILM], loads=p["reader_loads"], work=work / "reader")
    if "serve" in only:
        res["serve"] = serve.measure(paths[MINILM], work=work / "serve")
    if "memory" in only and browser.available():
        res["memory"] = frame_memory.measure((1, 10, 30))
    if "smollm2" in only:
        res["smollm2"] = smollm2.measure(work / "smollm2", loads=p["loads"], switches=p["switches"])
    if "live" in only:
        res["live"] = live.measure(work / "live")

    res["machine"]["CPU probe at the end"] = f"{cpu_probe():.3f} s"  # common.cpu_probe: the machine's speed moves
    seconds = time.perf_counter() - started
    text = write_results(res, args, seconds, Path(args.out))
    print(text)
    log(f"done in {seconds / 60:.1f} min; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
