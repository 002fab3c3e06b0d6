"""``compare=``: two attention matrices side by side on one colour scale, and their difference.

* ``compare="layer:N"``: A is ``layer=``/``head=`` of the sentence, B the same head choice in layer N;
* ``compare="head:N"`` (or ``head:mean``/``head:max``): B is head N of the same layer;
* ``compare="text:Another sentence"``: B is the same layer and head for another sentence;
* ``compare="model:NAME"``: B is the same layer and head (``last`` resolved per model) of another model
  (a name the site knows, like ``model=``); the second input is extracted and cached like any other
  (:meth:`mkdocs_attnviz.pipeline.FigureBuilder.compare_spec`).

A and B share one colour scale (0 to the larger of their maxima); A − B uses a diverging palette (RdBu: red
where A is larger, blue where B is larger) symmetric around 0. The difference needs the same tokens on both
sides: when the tokens differ (another sentence, another tokenizer) A and B are shown each with its own
tokens and the figure says why there is no difference panel. ``aggregate=``, ``granularity=`` and
``special_tokens=`` apply to both sides (:mod:`.transform`).
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import numpy as np

from .. import render
from ..analysis import dequantize, head_matrix, quantize
from ..attention import Attention
from ..toolkit import page as kit
from ..errors import AttnvizError
from ..spec import FigureSpec, resolve_head, resolve_layer
from . import _side, as_attention, part, transform

__all__ = ["page", "png", "describe", "height", "sides"]

HEADER_PX = 40
DIVERGING = "RdBu_r"  # matplotlib's RdBu reversed: positive (A larger) red, negative (B larger) blue


@dataclasses.dataclass
class Side:
    att: Attention  # transformed, plain self-attention record
    layer: int
    head: int | str
    text: str  # "model M, layer 5 of 6 (last), mean of 12 heads"


def _plain(att: Attention, spec: FigureSpec) -> Attention:
    if att.meta.get("is_encoder_decoder") and not part(att, spec).square:
        raise AttnvizError("compare= shows square attention sets (encoder or decoder self-attention)",
                           option="attention")
    if spec.special_tokens == "hide" and not transform.needed(spec):
        att, spec = transform.apply_always(att, spec)
    else:
        att, spec = transform.apply(att, spec)
    return as_attention(att, spec)


def sides(att: Attention, spec: FigureSpec, other: Attention | None = None) -> tuple[Side, Side]:
    """The two matrices a comparison shows (records transformed, layer and head resolved)."""
    if spec.compare is None:
        raise AttnvizError("no compare= option", option="compare")
    if spec.layer == "all" or spec.head == "all":
        raise AttnvizError("a comparison shows one matrix per side: choose one layer and one head (or mean/max)",
                           option="compare")
    kind, value = spec.compare
    a_att = _plain(att, spec)
    if kind in ("text", "model"):
        if other is None:
            raise AttnvizError(f"compare=\"{kind}:...\" needs the second input, which was not extracted "
                               "(build the figure through a site or the CLI)", option="compare")
        b_att = _plain(other, spec)
    else:
        b_att = a_att
    head_a = "mean" if spec.aggregate != "none" else spec.head
    layer_a = resolve_layer(spec.layer, a_att.num_layers)
    layer_b = resolve_layer(spec.layer, b_att.num_layers)
    head_b = head_a
    if kind == "layer":
        try:
            layer_b = resolve_layer(value, b_att.num_layers)
        except AttnvizError as exc:
            raise AttnvizError(str(exc), option="compare") from None
    elif kind == "head":
        if spec.aggregate != "none":
            raise AttnvizError(f"aggregate=\"{spec.aggregate}\" fuses the heads: there is no other head to compare",
                               option="compare")
        head_b = value
        if isinstance(head_b, int) and not 0 <= head_b < b_att.num_heads:
            raise AttnvizError(f"head {head_b} is out of range: the model has {b_att.num_heads} heads "
                               f"(0 to {b_att.num_heads - 1})", option="compare")
    head_a = resolve_head(head_a, a_att.num_heads)
    try:
        head_b = resolve_head(head_b, b_att.num_heads)
    except AttnvizError as exc:
        raise AttnvizError(str(exc), option="compare") from None
    out = []
    for a, layer, head in ((a_att, layer_a, head_a), (b_att, layer_b, head_b)):
        s = dataclasses.replace(spec, layer=layer, head=head, special_tokens="show")
        out.append(Side(a, int(layer), head, render.describe(a, s)))
    return out[0], out[1]


def _same_tokens(a: Side, b: Side) -> bool:
    """A − B is drawn when the two inputs line up token by token: as many tokens, specials at the same places
    (the labels may differ at some positions: ``tired`` / ``hungry``, and the axes then say both)."""
    return a.att.num_tokens == b.att.num_tokens and list(a.att.special) == list(b.att.special)


def _diff_labels(a: Side, b: Side) -> list[str]:
    return [x if x == y else f"{x}/{y}" for x, y in zip(a.att.labels, b.att.labels)]


def _mismatch(a: Side, b: Side) -> str:
    return (f"the two inputs have different tokens ({a.att.num_tokens} and {b.att.num_tokens}), so there is no "
            "cell-by-cell difference; A and B are shown each with its own tokens")


def _diff_text(a: Side, b: Side) -> str:
    differ = [f"{x}/{y}" for x, y in zip(a.att.labels, b.att.labels) if x != y]
    if not differ:
        return "A − B"
    shown = ", ".join(differ[:4]) + (" ..." if len(differ) > 4 else "")
    return f"A − B position by position (tokens differ at {len(differ)} of {a.att.num_tokens}: {shown})"


def describe(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    a, b = sides(att, spec, other)
    text = f"A: {a.text}; B: {b.text}"
    return text + "; " + (_diff_text(a, b) if _same_tokens(a, b) else _mismatch(a, b))


def _matrix(side: Side) -> np.ndarray:
    return head_matrix(dequantize(quantize(side.att.weights[side.layer])), side.head).astype(np.float64)


def height(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> int:
    if spec.height:
        return int(spec.height)
    a, b = sides(att, spec, other)
    n = max(a.att.num_tokens, b.att.num_tokens)
    cell = max(3, min(28, (690 // 3 - 100) // max(n, 1)))  # the page's rule at a docs column's width
    return HEADER_PX + 64 + 22 + cell * n + 80 + 12


def _record(side: Side, name: str) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    from .pages import _side_json

    att = side.att
    data = {"n": att.num_tokens, "num_layers": att.num_layers, "num_heads": att.num_heads,
            "side": _side_json(_side(att.labels, att.tokens, att.special, att.segments)), "causal": bool(att.causal), "who": att.meta.get("who") or f"model {att.model}",
            "analysis": att.meta.get("analysis")}
    blobs = [(name, index, kit.pack_layer(att.weights[index])) for index in range(att.num_layers)]
    return data, blobs


def page(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    from markupsafe import Markup

    a, b = sides(att, spec, other)
    same_record = b.att is a.att
    rec_a, blobs = _record(a, "a")
    records = {"a": rec_a}
    if not same_record:
        rec_b, more = _record(b, "b")
        records["b"] = rec_b
        blobs += more
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps[DIVERGING]
    data: dict[str, Any] = {
        "format": 1, "view": "compare", "title": describe(att, spec, other=other), "text": spec.text,
        "theme": spec.theme, "kind": spec.compare[0], "records": records,
        "a": {"record": "a", "layer": a.layer, "head": a.head},
        "b": {"record": "a" if same_record else "b", "layer": b.layer, "head": b.head},
        "same_tokens": _same_tokens(a, b), "mismatch": None if _same_tokens(a, b) else _mismatch(a, b),
        "diff_ticks": [kit.display_label(x) for x in _diff_labels(a, b)] if _same_tokens(a, b) else None,
        "diff_text": _diff_text(a, b) if _same_tokens(a, b) else None,
        "palette": render.palette(spec.colormap), "diverging": [to_hex(cmap(i / 255)) for i in range(256)],
        "scale": 255,
        # attnviz-views.js reads these (the compare page draws with its own selectors)
        "num_layers": a.att.num_layers, "num_heads": a.att.num_heads, "who": rec_a["who"],
        "sets": {"self": {"nq": a.att.num_tokens, "nk": a.att.num_tokens, "q": rec_a["side"], "k": rec_a["side"],
                          "causal": rec_a["causal"], "square": True}},
    }
    env = kit.environment()
    js = "\n".join(kit.asset_text(name) for name in
                   ("attnviz-common.js", "attnviz-views.js", "view-matrix.js", "view-compare.js"))
    return env.get_template("view.html.jinja").render(
        title=data["title"], caption=spec.caption, figure_id=spec.id, text=spec.text, pair=spec.pair,
        view="compare", header_px=HEADER_PX, plot_height=height(att, spec, other=other) - HEADER_PX - 6,
        css=Markup((kit.asset_text("figure.css") + kit.asset_text("views.css")).replace("</", "<\\/")),
        js=Markup(kit.script_text(js)), data_json=Markup(kit.script_json(data)), blobs=blobs, qk=[],
        render_version=render.RENDER_VERSION)


def png(att: Attention, spec: FigureSpec, *, font: str | None = None, other: Attention | None = None) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    from ..spec import COLORMAPS
    from .png import _rc, _save, _ticks

    a, b = sides(att, spec, other)
    ma, mb = _matrix(a), _matrix(b)
    top = max(float(ma.max()), float(mb.max())) or 1.0
    same = _same_tokens(a, b)
    cmap = matplotlib.colormaps[COLORMAPS.get(spec.colormap, "viridis")].with_extremes(bad="#d0d0d0")
    n = max(a.att.num_tokens, b.att.num_tokens)
    panel = min(5.2, max(3.0, 0.22 * n + 1.4))
    panels = 3 if same else 2
    title = "\n".join(textwrap.wrap(describe(att, spec, other=other), 150))

    def masked(m: np.ndarray, side: Side) -> np.ndarray:
        k = m.shape[0]
        return np.ma.masked_array(m, mask=np.triu(np.ones((k, k), bool), 1)) if side.att.causal else m

    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(panels * (panel + 0.9) + 0.4, panel + 1.9), dpi=100, layout="constrained")
        axes = fig.subplots(1, panels, squeeze=False)[0]
        ims = []
        for ax, m, side, name in ((axes[0], ma, a, "A"), (axes[1], mb, b, "B")):
            ims.append(ax.imshow(masked(m, side), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest"))
            ax.set_title("\n".join(textwrap.wrap(f"{name}: {side.text}", 48)), fontsize=8)
        if same:
            d = ma - mb
            lim = float(np.abs(d).max()) or 1.0
            im = axes[2].imshow(masked(d, a), cmap=matplotlib.colormaps[DIVERGING].with_extremes(bad="#d0d0d0"),
                                vmin=-lim, vmax=lim, interpolation="nearest")
            axes[2].set_title("\n".join(textwrap.wrap(_diff_text(a, b), 48)) + "\n(red: A larger, blue: B larger)",
                              fontsize=8)
            fig.colorbar(im, ax=axes[2], shrink=0.8, aspect=30, pad=0.02).set_label("A − B")
        fig.colorbar(ims[1], ax=list(axes[:2]), shrink=0.8, aspect=30, pad=0.02).set_label("Attention (A and B)")
        for ax, labels in zip(axes, (_ticks(a.att.labels), _ticks(b.att.labels), _ticks(_diff_labels(a, b)))):
            k = len(labels)
            step = max(1, k // 40 + 1)
            ax.set_xticks(range(0, k, step), labels[::step], rotation=45, ha="right", rotation_mode="anchor",
                          fontsize=7)
            ax.set_yticks(range(0, k, step), labels[::step], fontsize=7)
        fig.suptitle(title, fontsize=9)
        return _save(fig)
