"""Smoke test of the benchmark suite (``python -m benchmarks.run``): every code path on tiny inputs.

Benchmarks are not tests: nothing here checks a time. It only makes sure the benchmark code still runs
against the current product (page format, plugin output, browser hooks) and writes its report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz.toolkit import assets
from mkdocs_attnviz.attention import Attention

pytest.importorskip("benchmarks.run")

from benchmarks import browser, builds, page_weight, run, scaling  # noqa: E402
from benchmarks.common import machine, plugin_summary  # noqa: E402
from benchmarks.text import long_text, sentences, site_sentences  # noqa: E402


def tiny_attention(n: int = 12, layers: int = 2, heads: int = 3, model: str = "org/tiny") -> Attention:
    rng = np.random.default_rng(0)
    w = np.exp(rng.normal(size=(layers, heads, n, n)) * 2)
    w /= w.sum(-1, keepdims=True)
    labels = ["[CLS]"] + [f"w{i}" for i in range(1, n - 1)] + ["[SEP]"]
    return Attention(weights=w.astype(np.float32), tokens=labels, labels=labels,
                     special=[lab in ("[CLS]", "[SEP]") for lab in labels], segments=[0] * n, model=model,
                     revision="0")


def test_text_is_long_enough():
    assert len(sentences()) > 30 and len(long_text().split()) > 512
    assert len(set(site_sentences(50))) == 50


def test_page_weight_paths():
    att = tiny_attention()
    result = page_weight.measure({att.model: {12: att}}, bertviz_real_max=0, bertviz_exact_max=0)
    row = result["rows"][0]
    assert row["floor"] == 2 * 3 * 12 * 12 and row["raw"] > row["gzip"] > 0
    assert row["error"] <= 1 / 510 + 1e-6
    assert len(row["layer_bytes"]) == 2
    assert "attnviz raw" in page_weight.report(result)


def test_bertviz_size_is_exact():
    pytest.importorskip("bertviz")
    pytest.importorskip("torch")
    att = tiny_attention(n=9)
    for view in ("head_view", "model_view"):
        assert page_weight.exact_bertviz_size(att, view) == len(page_weight.bertviz_html(att, view).encode("utf-8"))
    result = page_weight.measure({att.model: {9: att}}, bertviz_real_max=9, bertviz_exact_max=9)
    assert result["rows"][0]["head_view"]["raw"] > 0 and not result["rows"][0]["head_view"]["exact"]


def test_scaling_paths():
    att = tiny_attention()
    assert scaling.png_seconds(att) > 0
    prof = scaling.profile_render(att, top=5)
    assert prof and all(len(r) == 3 for r in prof)


def test_browser_paths(tmp_path):
    if not browser.available():
        pytest.skip("chromium or chromedriver missing")
    att = tiny_attention()
    result = browser.measure({12: att}, loads=1, switches=1, profile_at=12, work=tmp_path)
    row = result["rows"][0]
    assert row["first_paint_ms"][0] > 0 and not row["errors"]
    assert row["head_ms"] and row["layer_new_ms"] and "all_tiles_ms" in row
    assert "first paint" in browser.report(result)


def test_site_generator_and_summary_parser(tmp_path):
    site = builds.make_site(tmp_path / "s", "/models/m", ["One sentence.", "Two sentences here."], figures=True)
    page = (site / "docs" / "page01.md").read_text()
    assert page.count("```attnviz") == 2
    text = builds.make_site(tmp_path / "t", "/models/m", ["One sentence."], figures=False)
    assert "```" not in (text / "docs" / "page01.md").read_text()
    stats = plugin_summary("INFO - attnviz: 50 figures (50 from cache, 0 rendered, 0 model runs, 0 errors) in 0.3 s")
    assert stats == {"figures": 50, "hits": 50, "renders": 0, "extractions": 0, "errors": 0}


def test_builds_and_results_file(tmp_path):
    """The whole builds benchmark on 2 figures of a tiny model, then the results file of everything."""
    pytest.importorskip("torch")
    from models import make_tiny_bert

    model = make_tiny_bert(tmp_path / "tiny-bert")
    b = builds.measure(model, figures=2, rounds=1, profile=False, work=tmp_path / "builds", warm_rounds=2)
    assert b["checks"]["cold"]["extractions"] == 2 and b["checks"]["warm"]["hits"] == 2
    assert b["checks"]["warm_modules"]["torch"] is False
    assert "warm / text-only" in builds.report(b)
    # the warm and text-only builds get rounds of their own after the cold rounds: 2 of each here
    assert len(b["raw"]["warm"]) == len(b["raw"]["text"]) == 2 and len(b["raw"]["cold"]) == 1
    assert "warm and text-only: 2" in builds.report(b)
    # the profiled warm build: the plugin's work read from the profile, and the row's reason made of it
    b["profile_warm"] = builds.profile_warm(Path(b["work"]) / "figures")
    assert b["profile_warm"]["summary"]["hits"] == 2
    buckets = b["profile_warm"]["buckets"]
    assert set(buckets) == {label for label, _, _ in builds.WARM_BUCKETS} and all(v > 0 for v in buckets.values())
    why = run.warm_why(b)
    assert "ms a figure" in why and "under cProfile the plugin's work was" in why
    assert all(label in why for label in buckets)

    att = tiny_attention()
    weight = page_weight.measure({att.model: {12: att}}, bertviz_real_max=0, bertviz_exact_max=0)
    res = {"machine": machine(), "command": "python -m benchmarks.run --test", "weight": weight, "builds": b,
           "scaling": {"extract_s": {}, "png_s": {}, "profile": ("tiny", 12, scaling.profile_render(att, top=3))}}
    out = tmp_path / "RESULTS.md"
    text = run.write_results(res, argparse.Namespace(quick=True), 1.0, out)
    assert out.read_text() == text
    for heading in ("## Machine", "## Targets", "## 1. Page weight", "## 2–3.", "## 5. Scaling", "## Reading"):
        assert heading in text
    assert any("warm rebuild never imports torch" in t[0] for t in run.targets(res))
    assert f"at commit {res['machine']['commit']}" in text and res["machine"]["commit"]


def test_the_switch_row_takes_every_kind_and_names_the_slowest():
    row = {"n": 200, "first_paint_ms": [300], "head_ms": [10, 12], "layer_new_ms": [30], "layer_seen_ms": [5],
           "mean_ms": [8], "all_layers_ms": 140.0, "all_tiles_ms": 230.0}
    rows = [t for t in run.targets({"browser": {"m": {"rows": [row]}}}) if "switch" in t[0]]
    assert len(rows) == 1 and rows[0][1] == "230 ms (slowest: all L×H tiles)" and "missed" in rows[0][2]
    assert "all layers" in rows[0][0] and "all L×H tiles" in rows[0][0]


def test_the_bertviz_ratio_counts_bokehjs():
    first, tenth = page_weight.ratios({"raw": 10_000, "head_view": {"raw": 2_000_000}}, "head_view", 1_000_000)
    assert round(first, 3) == round(2_000_000 / 1_010_000, 3) and round(tenth, 3) == round(20_000_000 / 1_100_000, 3)


def test_long_context_paths(tmp_path, capsys, monkeypatch):
    """The long-input benchmark's build (in this process) and browser code on a scaled-down long figure."""
    pytest.importorskip("torch")
    from models import make_tiny_llm

    from benchmarks import long_context
    from mkdocs_attnviz import attention
    from mkdocs_attnviz.views import longinput

    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    monkeypatch.setattr(longinput, "FULL_TOKENS", 16)
    monkeypatch.setattr(longinput, "OVERVIEW_CELLS", 8)
    model = make_tiny_llm("llama", tmp_path / "llama")
    long_context.child(argparse.Namespace(n=40, model=model, work=str(tmp_path), device="cpu"))
    built = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert built["n"] == 40 and built["peak_bytes"] > 0 and ".l1.mean.o.js" in built["files"]
    if browser.available():
        built["browser"] = long_context.browser_timings(__import__("pathlib").Path(built["page"]), 2, 4, loads=1,
                                                        switches=2, zoom=(2, 12), work=tmp_path / "b")
        b = built["browser"]
        own = [f for f in b["before_paint_files"][1:]  # the files every figure shares aside
               if f not in assets.files() and not f.startswith("attnviz-doc-")]
        assert not b["errors"] and b["zoom_view"]["detail"] and own == ["bokeh.min.js", f"{built['key']}.l1.mean.o.js"]
    result = {"rows": [built]}
    assert "40" in long_context.report(result) and long_context.targets(result) == []
    text = run.write_results({"machine": machine(), "command": "python -m benchmarks.run --only long", "long": result},
                             argparse.Namespace(quick=True), 1.0, tmp_path / "RESULTS.md")
    assert "## 6. Long inputs" in text and "**Long inputs.** 40 tokens" in text


def test_reader_paths(tmp_path):
    """The reader benchmark on a tiny model: bytes of the six-figure page, the single-file report, the browser."""
    pytest.importorskip("torch")
    from models import make_tiny_bert

    from benchmarks import reader

    result = reader.measure(make_tiny_bert(tmp_path / "tiny-bert"), loads=1, work=tmp_path / "reader",
                            layers=2)
    b = result["bytes"]
    assert len(b["own"]) == 6 and b["shared"] > 0 and b["bokehjs"] > 0
    # BokehJS travels inside the single file (deflated: the file is smaller than bokeh.min.js, whole and unchanged)
    import base64
    import re
    import zlib

    from mkdocs_attnviz.toolkit import bokeh

    report = (tmp_path / "reader" / "report.html").read_text(encoding="utf-8")
    assert result["single_file"] == len(report.encode("utf-8"))
    carried = re.search(r'<script type="application/octet-stream" data-encoding="deflate" id="attnviz-bokehjs">'
                        r'([A-Za-z0-9+/=]+)</script>', report)
    assert carried and zlib.decompress(base64.b64decode(carried.group(1))).decode("utf-8") == bokeh.bokehjs_text()
    if browser.available():
        r = result["browser"]
        assert not r["errors"] and len(r["six_each_ms"]) == 6
        assert 0 < r["six_first_ms"][0] <= r["six_all_ms"][0]
        # the stages of the measured figures, in order, read from the pages (BokehJS from its own script element)
        for key in ("six_first", "six_all", "one"):
            st = r[f"{key}_stages"]
            assert 0 <= st["start"] < st["bokehAsked"] <= st["bokehFetched"] <= st["bokehRun"] < st["drawn"], (key, st)
        assert r["six_all_stages"]["drawn"] == r["six_all_ms"][0] and len(r["six_all_stages"]["each"]) == 6
        why = reader.why(r["six_first_stages"], "the first figure drawn")
        assert "ms evaluating it" in why and "ms after BokehJS ran" in why
    names = [t[0] for t in run.targets({"reader": result})]
    assert any("own bytes" in n for n in names) and any("single-file" in n for n in names)
    assert "single-file report" in reader.report(result)


def test_serve_paths(tmp_path):
    """The serve benchmark on a tiny model: two real ``mkdocs serve`` on a new machine folder; the first loads the
    model and exports its quick preview, the later one runs both edits on it; two edits each, one run each. Then
    three ``sphinx-build`` processes after an edit each (as ``sphinx-autobuild`` runs them)."""
    pytest.importorskip("torch")
    from models import make_tiny_bert

    from benchmarks import serve

    result = serve.measure(make_tiny_bert(tmp_path / "tiny-bert"), work=tmp_path / "serve")
    first, later = result["first"], result["later"]
    assert first["ready_s"] and first["exported_s"] and first["previews_s"] is None
    assert later["previews_s"] and later["exported_s"] is None
    assert [(e["rendered"], e["model_runs"], e["previewed"]) for e in first["edits"]] == [(1, 1, False)] * 2
    assert [(e["rendered"], e["model_runs"], e["previewed"]) for e in later["edits"]] == [(1, 1, True)] * 2
    assert len(serve.targets(result)) == 2 and "a later serve: second edit" in serve.report(result)
    # sphinx-autobuild's rebuilds: PyTorch; PyTorch then the export; the preview
    assert [(r["model_runs"], r["previewed"], r["exported"]) for r in result["sphinx"]] == \
        [(1, False, False), (1, False, True), (1, True, False)]
    assert "ATTNVIZ_PREVIEWS=on, the model's preview on this machine" in serve.report(result)


def test_serve_times_an_edit_by_the_summary_line_that_came_after_it():
    """A summary line already waiting when the page is written (a second rebuild of the write before) is not the
    edit's: the serve benchmark once read one and timed an edit at -0.64 s, 0 figures rendered."""
    import io
    import time

    from benchmarks import serve

    summary = "attnviz: 6 figures (6 from cache, 0 rendered, 0 model runs, 0 errors) in 0.1 s\n"
    lines = serve.Lines(io.StringIO(summary))
    time.sleep(0.2)  # the line is read and queued
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        lines.wait(serve.SUMMARY, timeout=0.5, after=t0)
    lines = serve.Lines(io.StringIO(summary))
    assert serve.plugin_summary(lines.wait(serve.SUMMARY, timeout=5)[1])["figures"] == 6


def test_frame_memory_paths():
    """The browser memory benchmark on pages of one and two figures: a build, Chromium's RSS, the report."""
    if not browser.available():
        pytest.skip("chromium or chromedriver missing")
    from benchmarks import frame_memory

    result = frame_memory.measure((1, 2))
    pages = result["pages"]
    assert [pages[n]["figures"] for n in (1, 2)] == [1, 2] and all(p["rss"] > 0 for p in pages.values())
    assert "per additional figure" in frame_memory.report(result)
    assert any("per additional figure" in t[0] for t in run.targets({"memory": result}))


def test_gpu_writes_what_it_measured_or_that_there_was_no_gpu(tmp_path, monkeypatch):
    """``python -m benchmarks.gpu`` writes GPU.md itself: the commit, and either the table or a plain 'no GPU'."""
    import torch

    from benchmarks import gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "GPU.md"
    assert gpu.main(["--out", str(out)]) == 2
    text = out.read_text(encoding="utf-8")
    assert "**No GPU on the machine of this run**" in text and "at commit " in text
    row = {"tokens": 2048, "shape": "12×12", "what": "quantised layers, streamed (uint8 / 255)", "error": 1 / 255,
           "bound": "one step (1/255)", "ok": True, "device_s": 1.0, "cpu_s": 2.0}
    measured = gpu.write([row], {"commit": "abc", "date": "today", "cpu": "x", "cores": "2"}, "H100", "cmd")
    assert "| 2,048 | 12×12 | quantised layers, streamed" in measured and "No GPU" not in measured


def test_live_targets_and_report_paths():
    from benchmarks import live

    mib = 2 ** 20
    res = {"cold_s": 60.0, "warm_s": 1.5,
           "files": {"live.json": 1400, "model.onnx": 24 * mib, "tokenizer.json": 700_000,
                     "ort-wasm-simd-threaded.wasm": 14 * mib, "ort.wasm.bundle.min.mjs": 77_000,
                     "tokenizers.min.mjs": 37_000},
           "manifest": {"quant": "int8", "measured": 0.015, "bound": 0.02, "layers": 6, "heads": 12, "max_tokens": 512},
           "plain": {"bytes": 1_000_000, "names": ["figure.html"]},
           "live": {"bytes": 1_020_000, "names": ["figure.html", "attnviz-live.js"]},
           "reader": {"first_s": 6.0, "later_s": [0.2, 0.3], "bytes_first_use": 39 * mib, "offsite": []}}
    got = {name: ok for name, _, ok in live.targets(res)}
    assert got["live: Enter → redrawn figure, first sentence ≤ 5 s"] is False  # a target can be missed
    assert got["live: page when nobody asks — no byte of the model or the runtime"] is True
    res["live"]["names"].append("model.onnx")
    assert {name: ok for name, _, ok in live.targets(res)}[
        "live: page when nobody asks — no byte of the model or the runtime"] is False
    assert "model.onnx" in live.report(res) and live.targets(None) == []


def test_the_memory_peak_row_says_why_from_the_run():
    """A missed memory peak row says what the run measured (a drawn frame's MiB at load, the growth from 10 to 30),
    with the pages keyed by int (a run) or by str (its JSON)."""
    mib = 2 ** 20
    for key in (int, str):
        mem = {"per_figure": 2.6 * mib, "per_figure_peak": 14 * mib, "per_figure_peak_upper": 5.3 * mib,
               "pages": {key(1): {"rss_load": 1000 * mib, "loaded_at_load": 1},
                         key(10): {"rss_load": 1108 * mib, "loaded_at_load": 5}}}
        peak = next(r for r in run.targets({"memory": mem}) if "peak while scrolling (garbage" in r[0])
        assert peak[2] == "**missed**" and "27 MiB a drawn frame at load" in peak[3] and "5.3 MiB a figure" in peak[3]
