"""Benchmarks 2 and 3: warm rebuild and cold build of a site of figures, with plain ``mkdocs build``.

* warm: every figure in the cache, against the same site with each block replaced by a paragraph of its
  sentence (same ``mkdocs.yml``); torch and transformers must not be imported (checked with a wrapper that
  lists ``sys.modules`` at exit);
* cold: empty cache, against ``bare_forward.py``: load the same model and run one eager forward pass
  with ``output_attentions=True`` per sentence.

Runs are interleaved (cold, warm, text, bare per round) and repeated; ratios use the best of the rounds
(least disturbed by other load on the machine), medians are shown too. The warm and text-only builds, half a
second each, get more rounds of their own (at least :data:`WARM_ROUNDS`). One extra cold build runs under
cProfile to show where its time goes.
"""

from __future__ import annotations

import json
import os
import pstats
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import MINILM, MKDOCS, PYTHON, log, plugin_summary, summary, table
from .text import site_sentences

PER_PAGE = 5

PROBE = """\
import atexit, json, sys
out = sys.argv[1]
names = ("torch", "transformers", "bokeh", "matplotlib")
atexit.register(lambda: json.dump({m: m in sys.modules for m in names}, open(out, "w")))
sys.argv = ["mkdocs", "build"]
from mkdocs.__main__ import cli
cli()
"""


#: the figures of the site the issues' warm-build target names
TEN = 10
#: its rounds at the least: a second a build, more rounds cost little and steady the best-of ratio
TEN_ROUNDS = 5
#: warm and text builds of the 50-figure site at the least (the cold rounds give the first of them)
WARM_ROUNDS = 7


def make_site(root: Path, model_path: str, sentences: list[str], *, figures: bool, png: bool = True) -> Path:
    """A MkDocs project with ``len(sentences)`` blocks (``figures``) or paragraphs (not ``figures``); without
    ``png``, the figures have no PNG fallback."""
    root.mkdir(parents=True, exist_ok=True)
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    (root / "mkdocs.yml").write_text(
        "site_name: Benchmark site\nsite_dir: site\nplugins:\n  - attnviz:\n      models:\n"
        f"        {MINILM}: {model_path}\n      defaults:\n        model: {MINILM}\n"
        + ("" if png else "      fallback_png: false\n"), encoding="utf-8")
    pages = [sentences[i:i + PER_PAGE] for i in range(0, len(sentences), PER_PAGE)]
    index = ["# Benchmark site", ""] + [f"* [Page {i + 1}](page{i + 1:02d}.md)" for i in range(len(pages))]
    (docs / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    for i, group in enumerate(pages):
        body = [f"# Page {i + 1}", ""]
        for j, sentence in enumerate(group):
            body += [f"## Figure {j + 1}", "", "Some text before the figure.", ""]
            if figures:
                body += [f'```attnviz caption="Figure {i + 1}.{j + 1}"', sentence, "```", ""]
            else:
                body += [sentence, ""]
        (docs / f"page{i + 1:02d}.md").write_text("\n".join(body), encoding="utf-8")
    return root


def _run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # Python's default: modules compiled once into __pycache__ and read from there. A machine that sets
    # PYTHONDONTWRITEBYTECODE (this one does) would compile the plugin's modules from source in every build.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def _warm_build(fig_site: Path, checks: dict[str, Any]) -> tuple[float, Any]:
    """Seconds of a warm build of ``fig_site`` and its plugin summary; measured again (at most twice) when it
    rendered figures: something changed the render key meanwhile (templates edited during the run)."""
    for _attempt in range(3):
        seconds, out = _run([MKDOCS, "build"], fig_site)
        stats = plugin_summary(out)
        if stats and stats["hits"] == stats["figures"]:
            break
        log(f"warm build re-rendered ({stats}); measuring it again")
        checks["warm_retries"] = checks.get("warm_retries", 0) + 1
    return seconds, stats


def measure(model_path: str, *, figures: int = 50, rounds: int = 3, profile: bool = True,
            work: Path | None = None, warm_rounds: int = WARM_ROUNDS) -> dict[str, Any]:
    work = Path(work or tempfile.mkdtemp(prefix="attnviz-bench-builds-"))
    sentences = site_sentences(figures)
    fig_site = make_site(work / "figures", model_path, sentences, figures=True)
    text_site = make_site(work / "text", model_path, sentences, figures=False)
    # the same site without PNG fallbacks: what a cold build costs with the PNGs entirely off its path
    nopng_site = make_site(work / "figures-nopng", model_path, sentences, figures=True, png=False)
    sentences_file = work / "sentences.json"
    sentences_file.write_text(json.dumps(sentences), encoding="utf-8")
    cache = fig_site / ".cache"
    bare = [PYTHON, str(Path(__file__).with_name("bare_forward.py")), model_path, str(sentences_file)]

    times: dict[str, list[float]] = {"cold": [], "warm": [], "text": [], "bare": [], "cold_nopng": []}
    checks: dict[str, Any] = {}
    # one untimed text build first: warms the OS file cache for Python, mkdocs and the theme
    _run([MKDOCS, "build"], text_site)
    for r in range(rounds):
        shutil.rmtree(cache, ignore_errors=True)
        seconds, out = _run([MKDOCS, "build"], fig_site)
        times["cold"].append(seconds)
        checks.setdefault("cold", plugin_summary(out))
        if r == 0:  # the warm build under the probe: which heavy modules did it import?
            probe_out = work / "modules.json"
            _run([PYTHON, "-c", PROBE, str(probe_out)], fig_site)
            checks["warm_modules"] = json.loads(probe_out.read_text())
        seconds, stats = _warm_build(fig_site, checks)
        times["warm"].append(seconds)
        checks.setdefault("warm", stats)
        times["text"].append(_run([MKDOCS, "build"], text_site)[0])
        times["bare"].append(_run(bare, work)[0])
        shutil.rmtree(nopng_site / ".cache", ignore_errors=True)
        times["cold_nopng"].append(_run([MKDOCS, "build"], nopng_site)[0])
        log(f"builds round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    # more warm and text builds of the 50-figure site, interleaved (its cache is warm from the last cold round): a
    # build is about half a second, and two rounds left the best-of ratio to chance (1.0-1.3 between full runs)
    for r in range(rounds, max(rounds, warm_rounds)):
        times["warm"].append(_warm_build(fig_site, checks)[0])
        times["text"].append(_run([MKDOCS, "build"], text_site)[0])
        log(f"warm round {r + 1}: warm {times['warm'][-1]:.2f} s, text {times['text'][-1]:.2f} s")
    # the ten-figure site the issues name: its first ten sentences, its own cache filled once (untimed), then warm
    # builds interleaved with the same ten blocks as paragraphs
    ten_fig = make_site(work / "ten-figures", model_path, sentences[:TEN], figures=True)
    ten_text = make_site(work / "ten-text", model_path, sentences[:TEN], figures=False)
    _run([MKDOCS, "build"], ten_fig)
    _run([MKDOCS, "build"], ten_text)
    times["warm_ten"], times["text_ten"] = [], []
    ten_rounds = max(rounds, TEN_ROUNDS)
    for r in range(ten_rounds):
        seconds, out = _run([MKDOCS, "build"], ten_fig)
        stats = plugin_summary(out)
        checks.setdefault("warm_ten", stats)
        times["warm_ten"].append(seconds)
        times["text_ten"].append(_run([MKDOCS, "build"], ten_text)[0])
        log(f"ten figures round {r + 1}/{ten_rounds}: warm {times['warm_ten'][-1]:.2f} s, "
            f"text {times['text_ten'][-1]:.2f} s")
    figure_files = sorted((fig_site / "site" / "assets" / "attnviz").glob("*.html"))
    checks["published_pages"] = len(figure_files)
    result: dict[str, Any] = {"figures": figures, "rounds": rounds, "ten_rounds": ten_rounds, "times": {k: summary(v) for k, v in times.items()},
                              "raw": times, "checks": checks, "work": str(work),
                              "commands": {"figure site": f"cd SITE && {MKDOCS} build",
                                           "bare": " ".join(bare)}}
    if profile:
        result["profile_warm"] = profile_warm(fig_site)
        result["profile"] = profile_cold(fig_site)
    return result


#: the plugin's work in a warm build: (label, module file suffix, function name), cumulative time of the outermost call
#: (the first two are parts of the third)
WARM_BUCKETS = [
    ("reading and checking the cached entries (each file's hash)", "mkdocs_attnviz/cache.py", "get_render"),
    ("the embed snippets (Jinja)", "mkdocs_attnviz/embedding.py", "embed_html"),
    ("the figures' blocks (the fence formatter: keys, cache, embed)", "mkdocs_attnviz/fence.py", "formatter"),
    ("publishing the figure pages, PNGs and shared files", "mkdocs_attnviz/publishing.py", "publish"),
]


def profile_warm(fig_site: Path) -> dict[str, Any]:
    """One warm build (the figure site's cache is full) under cProfile: the build's profiled total and the seconds of
    the plugin's work in it (:data:`WARM_BUCKETS`, cumulative)."""
    seconds, out, total, found = _profiled_build(fig_site, "warm.prof", WARM_BUCKETS)
    return {"total_profiled": total, "wall": seconds, "buckets": found, "summary": plugin_summary(out)}


def _profiled_build(fig_site: Path, prof_name: str, buckets: list[tuple[str, str, str]]
                    ) -> tuple[float, str, float, dict[str, float]]:
    """``mkdocs build`` of ``fig_site`` under cProfile (the profile written next to it as ``prof_name``): its wall seconds,
    output, profiled total and the cumulative seconds of each of ``buckets`` (label, module file suffix or package
    folder, function name) that it called."""
    prof = fig_site.parent / prof_name
    seconds, out = _run([PYTHON, "-m", "cProfile", "-o", str(prof), MKDOCS, "build"], fig_site)
    stats = pstats.Stats(str(prof))
    found: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, suffix, func in buckets:
            in_place = suffix in filename if suffix.endswith("/") else filename.endswith(suffix)
            if in_place and name == func:
                found[label] = found.get(label, 0.0) + ct
    return seconds, out, stats.total_tt, found  # type: ignore[attr-defined]


BUCKETS = [  # (label, module file suffix or package folder, function name): cumulative time of the outermost call
    ("import torch + transformers, load model", "mkdocs_attnviz/extract/load.py", "_load"),
    ("forward passes (extract)", "mkdocs_attnviz/extract/forward.py", "extract"),
    ("figure pages (Bokeh JSON, zlib, Jinja)", "mkdocs_attnviz/views/", "page"),
    ("PNG drawn in the build's own process (matplotlib)", "mkdocs_attnviz/views/", "picture"),
    # MkDocs draws most PNGs in worker processes (mkdocs_attnviz.pictures) while the model runs: cProfile sees
    # only the time the build waits for them at its end (the workers inherit the profiler and run slower)
    ("PNG workers: waiting for them at the end of the build, storing their figures", "mkdocs_attnviz/pipeline.py",
     "finish"),
    ("render cache writes", "mkdocs_attnviz/cache.py", "put_render"),
    ("attention cache writes", "mkdocs_attnviz/cache.py", "put_attention"),
]


def profile_cold(fig_site: Path) -> dict[str, Any]:
    """One cold build under cProfile: seconds in each stage (cumulative, overlapping stages subtracted)."""
    shutil.rmtree(fig_site / ".cache", ignore_errors=True)
    seconds, _, total, found = _profiled_build(fig_site, "cold.prof", BUCKETS)
    load = found.get(BUCKETS[0][0], 0.0)
    if BUCKETS[1][0] in found:  # extract() includes the model load: report the forward part alone
        found[BUCKETS[1][0]] = max(0.0, found[BUCKETS[1][0]] - load)
    found["everything else (mkdocs, Markdown, theme, imports of bokeh/matplotlib...)"] = max(
        0.0, total - sum(found.values()))
    return {"total_profiled": total, "wall": seconds, "buckets": found}


def report(result: dict[str, Any]) -> str:
    t = result["times"]
    rows = []
    for key, label in (("text", "text-only site (blocks → paragraphs)"), ("warm", "figure site, warm cache"),
                       ("cold", "figure site, empty cache"),
                       ("cold_nopng", "figure site, empty cache, `fallback_png: false`"),
                       ("bare", "bare script: load model + forward passes"),
                       ("warm_ten", f"{TEN}-figure site (its first {TEN} sentences), warm cache"),
                       ("text_ten", f"{TEN}-figure site, text only")):
        if key not in t:  # a result from before the ten-figure site was measured
            continue
        rows.append([label, f"{t[key]['min']:.2f}", f"{t[key]['median']:.2f}", f"{t[key]['max']:.2f}"])
    lines = [f"{result['figures']} figures on {-(-result['figures'] // PER_PAGE)} pages; "
             f"{result['rounds']} interleaved rounds (warm and text-only: {len(result.get('raw', {}).get('warm', ())) or result['rounds']}; the "
             f"{TEN}-figure site: {result.get('ten_rounds')}); seconds of wall time per `mkdocs build` (or script), Python "
             "reading its bytecode from `__pycache__` as it does by default (the builds run without "
             "`PYTHONDONTWRITEBYTECODE`).", ""]
    lines.append(table(["build", "best", "median", "worst"], rows))
    warm_ratio = t["warm"]["min"] / t["text"]["min"]
    cold_ratio = t["cold"]["min"] / t["bare"]["min"]
    lines += ["", f"* **warm / text-only = {warm_ratio:.2f}** (best of rounds; medians: "
              f"{t['warm']['median'] / t['text']['median']:.2f}); targets ≤ 1.2 (issue 3), ≤ 1.15 (issues 17, 19).",
              f"* **cold / bare script = {cold_ratio:.2f}** (medians: {t['cold']['median'] / t['bare']['median']:.2f}); "
              "target ≤ 2.0 (issue 19).",
              f"* **cold without PNGs / bare script = {t['cold_nopng']['min'] / t['bare']['min']:.2f}**: the cold "
              "build with the PNG fallbacks entirely off its path (`fallback_png: false`)."]
    if "warm_ten" in t:
        lines += [f"* **{TEN} figures: warm / text-only = {t['warm_ten']['min'] / t['text_ten']['min']:.2f}** (best "
                  f"of rounds; medians: {t['warm_ten']['median'] / t['text_ten']['median']:.2f}; warm summary: "
                  f"{result['checks'].get('warm_ten')}); target ≤ 1.15 (issues 17, 19)."]
    c = result["checks"]
    mods = c.get("warm_modules", {})
    lines.append(f"* warm build imported torch: **{mods.get('torch')}**, transformers: **{mods.get('transformers')}** "
                 f"(bokeh: {mods.get('bokeh')}, matplotlib: {mods.get('matplotlib')}).")
    lines.append(f"* plugin summary, cold: {c.get('cold')}; warm: {c.get('warm')}; figure pages published: "
                 f"{c.get('published_pages')}.")
    if "profile" in result:
        p = result["profile"]
        lines += ["", f"Where a cold build's time goes (one build under cProfile, {p['wall']:.1f} s wall, "
                  f"{p['total_profiled']:.1f} s profiled; per stage, cumulative):", ""]
        rows = [[label, f"{sec:.2f}", f"{100 * sec / p['total_profiled']:.0f} %"]
                for label, sec in p["buckets"].items()]
        lines.append(table(["stage", "seconds", "share"], rows))
    return "\n".join(lines)
