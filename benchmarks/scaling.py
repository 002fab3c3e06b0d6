"""Benchmark 5: how the costs grow with tokens and with layers × heads, and a profile at the largest size.

Build side: seconds to extract (one forward pass, model already loaded), to render the page and the PNG,
and bytes per weight of the page, for every (model, tokens). At the largest size, the page and the PNG
are rendered once more under cProfile; the table lists the functions with the most cumulative time.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from typing import Any

from .common import table, timed


def png_seconds(att) -> float:
    from mkdocs_attnviz import draw
    from mkdocs_attnviz.spec import build_spec

    spec = build_spec({}, "benchmark", defaults={"model": att.model})
    return timed(lambda: draw.figure_png(att, spec))[0]


def profile_render(att, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, cumulative s, own s) of rendering the page and the PNG of ``att`` once."""
    from mkdocs_attnviz import draw
    from mkdocs_attnviz.spec import build_spec

    spec = build_spec({}, "benchmark", defaults={"model": att.model})
    prof = cProfile.Profile()
    prof.enable()
    draw.figure_page(att, spec)
    draw.figure_png(att, spec)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("site-packages/")[-1].replace("/work/main/", "")
        rows.append((f"{short}:{line}({name})", ct, tt))
    rows.sort(key=lambda r: -r[1])
    keep = [r for r in rows if not r[0].startswith(("~", "<")) and "benchmarks/" not in r[0]]
    return keep[:top]


def report(weights: dict[str, Any], extract_s: dict[tuple[str, int], float], png_s: dict[tuple[str, int], float],
           profile: tuple[str, int, list] | None) -> str:
    rows = []
    for r in weights["rows"]:
        key = (r["model"], r["n"])
        values = r["L"] * r["H"] * r["n"] ** 2
        bv = r.get("head_view")
        rows.append([r["model"], f"{r['L']}×{r['H']}", r["n"], f"{values:,}",
                     f"{r['raw'] / values:.3f}", f"{bv['raw'] / values:.1f}" if bv else "—",
                     f"{extract_s.get(key, float('nan')):.2f}", f"{r['render_s']:.2f}",
                     f"{png_s.get(key, float('nan')):.2f}",
                     f"{bv['seconds']:.2f}" if bv and bv.get("seconds") else "—"])
    lines = [table(["model", "L×H", "tokens", "weights L·H·n²", "attnviz bytes/weight", "bertviz bytes/weight",
                    "extract s", "page render s", "PNG render s", "bertviz head_view s"], rows)]
    if profile:
        model, n, prof = profile
        lines += ["", f"cProfile of rendering the page and the PNG of {model} at {n} tokens (cumulative / own seconds):",
                  ""]
        lines.append(table(["function", "cumulative s", "own s"], [[f"`{f}`", f"{c:.3f}", f"{t:.3f}"] for f, c, t in prof]))
    return "\n".join(lines)
