"""``view="summary"``: one grid of layers × heads, coloured by a per-head statistic (entropy against log n,
mean attention distance, share of attention to special tokens, to the previous token, to itself, to the next
token; :func:`mkdocs_attnviz.analysis.head_summary`). Hover a cell for every number of that head; click it to
open the head's heatmap below the grid. The PNG shows the six statistics as six small grids with their numbers.

The page is a canvas view (``view.html.jinja``, ``attnviz-views.js``, ``view-matrix.js``, ``view-summary.js``);
the statistics are computed at build time and stored in the page data (``summary``), the weights of every layer
are packed like the other views' (for the enlarged head).
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from .. import analysis
from ..attention import Attention
from ..toolkit import page as kit
from ..errors import AttnvizError
from ..spec import FigureSpec, resolve_head, resolve_layer
from . import part, transform, who

__all__ = ["page", "png", "describe", "height", "statistics"]

HEADER_PX = 40
LABELS = {"entropy": "Entropy / log n", "distance": "Mean distance (tokens)", "special": "To special tokens",
          "previous": "To the previous token", "self": "To itself", "next": "To the next token"}


def _prepared(att: Attention, spec: FigureSpec) -> tuple[Attention, FigureSpec]:
    if att.meta.get("is_encoder_decoder") and spec.attention not in (None, "encoder"):
        raise AttnvizError("the head summary shows self-attention: use attention=\"encoder\" (the default)",
                           option="attention")
    if transform.needed(spec) or spec.special_tokens == "hide":
        return transform.apply_always(att, spec)
    return att, spec


def statistics(att: Attention) -> dict[str, np.ndarray]:
    """:func:`analysis.head_summary` of the (encoder / self) attention of ``att``."""
    return analysis.head_summary(att.weights, att.special)


def describe(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    att, spec = _prepared(att, spec)
    notes = (att.meta.get("analysis") or {}).get("notes", [])
    return ", ".join([f"{who(att, spec)}, head summary of {att.num_layers} layers × {att.num_heads} heads "
                      f"({att.num_tokens} tokens)"] + notes)


def height(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> int:
    if spec.height:
        return int(spec.height)
    cell = 34
    return HEADER_PX + 30 + 26 + 20 + cell * att.num_layers + 30


def _initial(att: Attention, spec: FigureSpec) -> list[int] | None:
    """The head opened at first: ``layer=`` and ``head=`` when both name one (else none)."""
    if spec.layer == "last" and not isinstance(spec.head, int):
        return None
    layer = resolve_layer(spec.layer, att.num_layers)
    head = resolve_head(spec.head, att.num_heads)
    if layer == "all" or not isinstance(head, int):
        return None
    return [int(layer), head]


def page(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    from markupsafe import Markup

    from .. import render
    from .pages import _side_json

    att, spec = _prepared(att, spec)
    stats = statistics(att)
    side = _side_json(part(att, spec).q)
    n = att.num_tokens
    data: dict[str, Any] = {
        "format": 1, "view": "summary", "title": describe(att, spec), "model": att.model, "who": who(att, spec),
        "text": spec.text, "pair": spec.pair, "theme": spec.theme, "num_layers": att.num_layers,
        "num_heads": att.num_heads, "layer": att.num_layers - 1, "head": "mean", "set": "self",
        "sets": {"self": {"nq": n, "nk": n, "q": side, "k": side, "causal": bool(att.causal), "square": True}},
        "palette": render.palette(spec.colormap), "scale": 255, "hidden": False,
        "analysis": att.meta.get("analysis"),
        "summary": {"metrics": list(LABELS), "labels": LABELS, "descriptions": analysis.SUMMARY_METRICS,
                    "log_n": float(np.log(n)) if n > 1 else 0.0,
                    "values": {k: np.round(v, 5).tolist() for k, v in stats.items()},
                    "selected": _initial(att, spec)},
    }
    blobs = [("self", index, kit.pack_layer(att.weights[index])) for index in range(att.num_layers)]
    env = kit.environment()
    plot_px = height(att, spec) - HEADER_PX - 6
    js = "\n".join(kit.asset_text(name) for name in
                   ("attnviz-common.js", "attnviz-views.js", "view-matrix.js", "view-summary.js"))
    return env.get_template("view.html.jinja").render(
        title=data["title"], caption=spec.caption, figure_id=spec.id, text=spec.text, pair=spec.pair,
        view="summary", header_px=HEADER_PX, plot_height=plot_px,
        css=Markup((kit.asset_text("figure.css") + kit.asset_text("views.css")).replace("</", "<\\/")),
        js=Markup(kit.script_text(js)), data_json=Markup(kit.script_json(data)), blobs=blobs, qk=[],
        render_version=render.RENDER_VERSION)


def png(att: Attention, spec: FigureSpec, *, font: str | None = None, other: Attention | None = None) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    from .png import _rc, _save

    att, spec = _prepared(att, spec)
    stats = statistics(att)
    L, H = att.num_layers, att.num_heads
    title = "\n".join(textwrap.wrap(describe(att, spec), 110))
    cmap = matplotlib.colormaps[__import__("mkdocs_attnviz.spec", fromlist=["COLORMAPS"]).COLORMAPS.get(
        spec.colormap, "viridis")]
    tile_w = max(2.6, min(5.0, 0.42 * H + 0.8))
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(3 * tile_w + 0.6, 2 * (0.36 * L + 1.3) + 0.8), dpi=100, layout="constrained")
        axes = fig.subplots(2, 3, squeeze=False)
        for ax, name in zip(axes.flat, LABELS):
            m = stats[name]
            top = 1.0 if name == "entropy" else (float(m.max()) if m.max() > 0 else 1.0)
            ax.imshow(m, cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest")
            ax.set_title(LABELS[name] + ("" if name == "entropy" else f" (0–{top:.2f})"), fontsize=9)
            ax.set_xticks(range(H), [str(h) for h in range(H)], fontsize=7)
            ax.set_yticks(range(L), [str(layer) for layer in range(L)], fontsize=7)
            ax.set_xlabel("head", fontsize=8)
            ax.set_ylabel("layer", fontsize=8)
            if H <= 16:
                for layer in range(L):
                    for h in range(H):
                        v = float(m[layer, h])
                        ax.text(h, layer, f"{v:.1f}" if name == "distance" else f"{v:.2f}", ha="center",
                                va="center", fontsize=6 if H > 8 else 7,
                                color="black" if v > 0.6 * top else "white")
        fig.suptitle(title, fontsize=10)
        return _save(fig)
