"""Benchmark 1: bytes a browser fetches for one figure that can show every layer and head.

Our figure page (HTML + its embedded data; BokehJS is counted once per site and reported apart) against
bertviz 1.4.1's ``head_view`` and ``model_view`` (``html_action="return"``) on the very same attention
tensors. Sizes are raw bytes as served and gzip -6; the floor is ``L·H·n²`` (one byte per weight). The
decoding error is the largest ``|decoded - extracted|`` over every weight, decoding the page's own blobs.

bertviz at 512 tokens (a 0.8–1.7 GB string, ~45 s per call) is *computed exactly* instead of built: the same
bertviz code runs with ``json.dumps`` of its parameters swapped for one that measures the attention list
layer by layer (``exact_bertviz_size``; the smoke test checks it against a real call).
"""

from __future__ import annotations

import gc
import json
import re
from typing import Any

import numpy as np

from .common import gzip_size, human, log, table, timed

PAGE_BLOB = re.compile(r'<script type="application/octet-stream" data-set="\w+" data-layer="(\d+)">([^<]*)</script>')


def our_page(att, *, resources: str = "local") -> str:
    from mkdocs_attnviz import draw
    from mkdocs_attnviz.spec import build_spec

    spec = build_spec({}, "benchmark", defaults={"model": att.model})
    return draw.figure_page(att, spec, resources=resources)


def decode_error(page: str, att) -> float:
    """Largest absolute error of the weights decoded from the page's blobs (as view-heatmap.js does)."""
    from mkdocs_attnviz.toolkit import page as kit

    blobs = dict((int(i), b) for i, b in PAGE_BLOB.findall(page))
    if sorted(blobs) != list(range(att.num_layers)):
        raise AssertionError(f"the page holds layers {sorted(blobs)}, expected 0..{att.num_layers - 1}")
    worst = 0.0
    for layer, blob in blobs.items():
        decoded = kit.unpack_layer(blob, att.num_heads, att.num_tokens)
        worst = max(worst, float(np.abs(decoded.astype(np.float64) - att.weights[layer]).max()))
    return worst


def bokehjs_bytes() -> tuple[int, int]:
    from mkdocs_attnviz.toolkit.bokeh import bokehjs_files

    data = next(iter(bokehjs_files().values())).read_bytes()
    return len(data), gzip_size(data)


def _torch_attention(att):
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(att.weights[l][None])) for l in range(att.num_layers))


def bertviz_html(att, view: str) -> str:
    """bertviz 1.4.1's output for ``att`` (``view`` = ``head_view`` or ``model_view``)."""
    import bertviz

    fn = getattr(bertviz, view)
    return fn(_torch_attention(att), list(att.tokens), html_action="return").data


class _MeasuringJson:
    """Stands in for the ``json`` module inside a bertviz view: ``dumps`` leaves the attention lists out
    and adds up their exact JSON length one layer at a time (no multi-GB string)."""

    def __init__(self) -> None:
        self.missing = 0  # characters left out of the returned text
        self.lists = 0  # attention lists left out

    def dumps(self, obj: Any, **kw: Any) -> str:
        def strip(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    if k == "attn" and isinstance(v, list):
                        marker = "ATTN"
                        full = 2 + sum(len(json.dumps(layer)) for layer in v) + 2 * max(len(v) - 1, 0)
                        self.missing += full - len(json.dumps(marker))
                        self.lists += 1
                        out[k] = marker
                    else:
                        out[k] = strip(v)
                return out
            if isinstance(node, list):
                return [strip(v) for v in node]
            return node

        return json.dumps(strip(obj), **kw)


def exact_bertviz_size(att, view: str) -> int:
    """Exact byte size of :func:`bertviz_html` without building it (see the module docstring)."""
    import importlib

    module = importlib.import_module(f"bertviz.{view}")
    shim = _MeasuringJson()
    saved = module.json
    module.json = shim
    try:
        html = bertviz_html(att, view)
    finally:
        module.json = saved
    # bertviz pastes its parameters into the page twice (code + a comment): each left-out part counts
    # as many times as its marker appears, per attention list
    copies = html.count('"attn": "ATTN"') // max(1, shim.lists)
    return len(html.encode("utf-8")) + shim.missing * copies


def bertviz_available() -> bool:
    try:
        import bertviz  # noqa: F401
        return True
    except Exception:
        return False


def measure(atts: dict[str, dict[int, Any]], *, bertviz_real_max: int = 200,
            bertviz_exact_max: int = 512) -> dict[str, Any]:
    """Page weight of every attention in ``atts`` ({model: {tokens: Attention}})."""
    bokeh_raw, bokeh_gz = bokehjs_bytes()
    have_bertviz = bertviz_available()
    rows = []
    for model, by_n in atts.items():
        gz_ratio: dict[str, float] = {}
        for n, att in sorted(by_n.items()):
            L, H = att.num_layers, att.num_heads
            floor = L * H * n * n
            seconds, page = timed(lambda: our_page(att))
            raw = page.encode("utf-8")
            row = {"model": model, "L": L, "H": H, "n": n, "floor": floor, "raw": len(raw),
                   "gzip": gzip_size(raw), "error": decode_error(page, att), "render_s": seconds,
                   "layer_bytes": [len(b) for _, b in PAGE_BLOB.findall(page)]}
            del page, raw
            log(f"page weight {model} n={n}: {human(row['raw'])} ({row['raw'] / floor:.3f} x floor)")
            for view in ("head_view", "model_view"):
                if not have_bertviz:
                    row[view] = None
                    continue
                if n <= bertviz_real_max:
                    seconds, html = timed(lambda: bertviz_html(att, view))
                    data = html.encode("utf-8")
                    del html
                    row[view] = {"raw": len(data), "gzip": gzip_size(data), "exact": False, "seconds": seconds}
                    gz_ratio[view] = row[view]["gzip"] / row[view]["raw"]
                    del data
                elif n <= bertviz_exact_max:
                    size = exact_bertviz_size(att, view)
                    gz = int(size * gz_ratio[view]) if view in gz_ratio else None
                    row[view] = {"raw": size, "gzip": gz, "exact": True, "seconds": None}
                else:
                    row[view] = None
                gc.collect()
                if row[view]:
                    log(f"  bertviz {view} n={n}: {human(row[view]['raw'])}")
            rows.append(row)
    return {"bokehjs_raw": bokeh_raw, "bokehjs_gzip": bokeh_gz, "rows": rows, "bertviz": have_bertviz}


def ratios(row: dict[str, Any], view: str, bokehjs: int) -> tuple[float, float]:
    """bertviz's bytes over ours with BokehJS counted: for a reader's first figure (our page + BokehJS) and over
    ten figures (ten of bertviz's against ten of our pages + BokehJS once, the browser caching it)."""
    theirs = row[view]["raw"]
    return theirs / (row["raw"] + bokehjs), 10 * theirs / (10 * row["raw"] + bokehjs)


def report(result: dict[str, Any]) -> str:
    lines = []
    head = ["model", "L×H", "tokens", "floor L·H·n²", "attnviz raw", "raw / floor", "attnviz gzip",
            "max error", "bertviz head_view raw (gzip)", "bertviz model_view raw (gzip)",
            "head_view / attnviz: page alone", "first figure (+ BokehJS)", "ten figures (+ BokehJS once)"]
    rows = []
    for r in result["rows"]:
        cells = [r["model"], f"{r['L']}×{r['H']}", r["n"], human(r["floor"]), human(r["raw"]),
                 f"{r['raw'] / r['floor']:.3f}", human(r["gzip"]), f"{r['error']:.5f} (1/{1 / r['error']:.0f})"
                 if r["error"] else "0"]
        for view in ("head_view", "model_view"):
            b = r.get(view)
            if not b:
                cells.append("—")
                continue
            mark = " †" if b["exact"] else ""
            gz = human(b["gzip"]) + (" ‡" if b["exact"] else "") if b["gzip"] else "—"
            cells.append(f"{human(b['raw'])}{mark} ({gz})")
        b = r.get("head_view")
        cells.append(f"{b['raw'] / r['raw']:,.0f}×" if b else "—")
        cells += [f"{x:,.0f}×" for x in ratios(r, "head_view", result["bokehjs_raw"])] if b else ["—", "—"]
        rows.append(cells)
    lines.append(table(head, rows))
    lines.append("")
    lines.append(f"BokehJS (`bokeh.min.js`, fetched once per site, cached by the browser): "
                 f"{human(result['bokehjs_raw'])} raw, {human(result['bokehjs_gzip'])} gzip. bertviz instead "
                 "fetches require.js, d3 5.7 and jQuery 2.0 from cdnjs (not counted, and unavailable offline).")
    lines.append("")
    lines.append("† computed exactly by running bertviz with a measuring `json.dumps` (a real 512-token call "
                 "builds a 0.8–1.7 GB string); ‡ gzip estimated with the gzip/raw ratio bertviz had at the "
                 "next smaller size.")
    return "\n".join(lines)
