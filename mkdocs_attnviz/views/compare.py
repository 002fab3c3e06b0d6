"""``compare=``: two attention matrices side by side on one colour scale, and their difference.

* ``compare="layer:N"``: A is ``layer=``/``head=`` of the sentence, B the same head choice in layer N;
* ``compare="head:N"`` (or ``head:mean``/``head:max``): B is head N of the same layer;
* ``compare="text:Another sentence"``: B is the same layer and head for another sentence;
* ``compare="model:NAME"``: B is the same layer and head (``last`` resolved per model) of another model (a name
  the site knows, like ``model=``); the second input is extracted and cached like any other
  (:meth:`mkdocs_attnviz.pipeline.FigureBuilder.compare_spec`) and prepared like the first.

A and B share one colour scale (0 to the larger of their maxima); A − B uses a diverging palette (RdBu: red where
A is larger, blue where B is larger) symmetric around 0. The difference needs the same tokens on both sides: when
the tokens differ (another sentence, another tokenizer) A and B are shown each with its own tokens and the figure
says why there is no difference panel. ``aggregate=``, ``granularity=`` and ``special_tokens=`` apply to both.
"""

from __future__ import annotations

import dataclasses

import dataclasses
from typing import Any

from ..lazy import np

from ..analysis import dequantize, head_matrix, quantize
from ..attention import Attention
from ..contract import AttentionSet
from ..errors import AttnvizError
from ..i18n import N_
from ..prepare import Part, Prepared, resolve_head, resolve_layer
from ..spec import FigureSpec
from ..texts import Texts
from ..toolkit import mpl
from ..toolkit import page as kit
from ..toolkit.colors import DIVERGING, colormap, palette
from .base import CANVAS_SCRIPTS, Frame, View, canvas_page, payload, side_json

__all__ = ["VIEW", "Compare", "sides", "Side"]


@dataclasses.dataclass
class Side:
    fig: Prepared  # the prepared input this side shows
    layer: int
    head: int | str
    text: str  # "model M, layer 5 of 6 (last), mean of 12 heads"

    @property
    def part(self) -> Part:
        return self.fig.part

    @property
    def n(self) -> int:
        return len(self.fig.part.q.labels)

    @property
    def labels(self) -> list[str]:
        return self.fig.part.q.labels


def sides(fig: Prepared) -> tuple[Side, Side]:
    """The two matrices a comparison shows (records prepared, layer and head resolved)."""
    spec = fig.spec
    kind, value = spec.compare
    if kind in ("text", "model"):
        if fig.other is None:
            raise AttnvizError(f"compare=\"{kind}:...\" needs the second input, which was not extracted "
                               "(build the figure through a site or the CLI)", option="compare")
        b_fig = fig.other
    else:
        b_fig = fig
    head_a = fig.head
    layer_a, layer_b = fig.layer, b_fig.layer
    head_b: int | str = head_a
    if kind == "layer":
        try:
            layer_b = resolve_layer(value, b_fig.num_layers)
        except AttnvizError as exc:
            raise AttnvizError(str(exc), option="compare") from None
    elif kind == "head":
        if spec.aggregate != "none":
            raise AttnvizError(f"aggregate=\"{spec.aggregate}\" fuses the heads: there is no other head to compare",
                               option="compare")
        head_b = value
    try:
        head_b = resolve_head(head_b, b_fig.num_heads)
    except AttnvizError as exc:
        raise AttnvizError(str(exc), option="compare") from None
    out = []
    for f, layer, head in ((fig, layer_a, head_a), (b_fig, layer_b, head_b)):
        text = f.tx.selection(f.who, layer, head, f.num_layers, f.num_heads, analysis=f.analysis)
        out.append(Side(f, int(layer), head, text))
    return out[0], out[1]


def _same_tokens(a: Side, b: Side) -> bool:
    """A − B is drawn when the two inputs line up token by token: as many tokens, specials at the same places
    (the labels may differ at some positions: ``tired`` / ``hungry``, and the axes then say both)."""
    return a.n == b.n and list(a.part.q.special) == list(b.part.q.special)


def _diff_labels(a: Side, b: Side) -> list[str]:
    return [x if x == y else f"{x}/{y}" for x, y in zip(a.labels, b.labels)]


def _mismatch(a: Side, b: Side, tx: Texts) -> str:
    return tx._("the two inputs have different tokens ({a} and {b}), so there is no cell-by-cell difference; A and B "
                "are shown each with its own tokens").format(a=a.n, b=b.n)


def _diff_text(a: Side, b: Side, tx: Texts) -> str:
    differ = [f"{x}/{y}" for x, y in zip(a.labels, b.labels) if x != y]
    if not differ:
        return "A − B"
    shown = ", ".join(differ[:4]) + (" ..." if len(differ) > 4 else "")
    return tx._("A − B position by position (tokens differ at {count} of {total}: {shown})").format(
        count=len(differ), total=a.n, shown=shown)


def _matrix(side: Side) -> np.ndarray:
    return head_matrix(dequantize(quantize(side.part.weights[side.layer])), side.head).astype(np.float64)


def _record(side: Side, name: str) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    p, f = side.part, side.fig
    data = {"n": side.n, "num_layers": f.num_layers, "num_heads": f.num_heads, "side": dataclasses.asdict(side_json(p.q)),
            "causal": bool(p.causal), "who": f.who,
            "texts": f.tx.figure_texts(f.num_layers, f.num_heads, f.analysis)}
    return data, [(name, index, kit.pack_layer(p.weights[index])) for index in range(f.num_layers)]


class Compare(View):
    name = "compare"
    scripts = CANVAS_SCRIPTS + ("attnviz-matrix.js", "view-compare.js")
    title = N_("Attention comparison")
    words = {
        "fused": N_("fused"),
        "side_layer": N_("{side} layer"),
        "side_head": N_("{side} head"),
        "compare_legend": N_("A and B share one colour scale; A − B: red where A is larger, blue where B is larger."),
        "title_compare": N_("Comparison: A = {a}; B = {b}; {difference}"),
        "panel_title": N_("{side}: layer {layer}, {head}"),
    }
    record_level = True

    def check(self, att: Attention, spec: FigureSpec) -> None:
        if spec.layer == "all" or spec.head == "all":
            raise AttnvizError("a comparison shows one matrix per side: choose one layer and one head (or mean/max)",
                               option="compare")
        if att.meta.get("is_encoder_decoder") and spec.attention == "cross":
            raise AttnvizError("compare= shows square attention sets (encoder or decoder self-attention)",
                               option="attention")

    def describe(self, fig: Prepared) -> str:
        a, b = fig.derive("sides", lambda: sides(fig))
        tx = fig.tx
        diff = _diff_text(a, b, tx) if _same_tokens(a, b) else _mismatch(a, b, tx)
        return tx._("A: {a}; B: {b}; {difference}").format(a=a.text, b=b.text, difference=diff)

    def natural_height(self, fig: Prepared) -> int:
        a, b = fig.derive("sides", lambda: sides(fig))
        n = max(a.n, b.n)
        cell = max(3, min(28, (690 // 3 - 100) // max(n, 1)))  # the page's rule at a docs column's width
        return kit.HEADER_PX + 64 + 22 + cell * n + 80 + 12

    def page(self, fig: Prepared, frame: Frame) -> str:
        spec = fig.spec
        a, b = fig.derive("sides", lambda: sides(fig))
        same_record = b.fig is a.fig
        rec_a, blobs = _record(a, "a")
        records = {"a": rec_a}
        if not same_record:
            rec_b, more = _record(b, "b")
            records["b"] = rec_b
            blobs += more
        same = _same_tokens(a, b)
        axis = side_json(a.part.q)
        extra: dict[str, Any] = {
            "kind": spec.compare[0], "records": records,
            "a": {"record": "a", "layer": a.layer, "head": a.head},
            "b": {"record": "a" if same_record else "b", "layer": b.layer, "head": b.head},
            "same_tokens": same, "mismatch": None if same else _mismatch(a, b, fig.tx),
            "diff_ticks": [kit.display_label(x) for x in _diff_labels(a, b)] if same else None,
            "diff_text": _diff_text(a, b, fig.tx) if same else None, "diverging": palette(DIVERGING),
        }
        data = payload(fig, frame, {"a": AttentionSet(nq=a.n, nk=a.n, q=axis, k=axis, causal=bool(a.part.causal),
                                                       square=True)},
                       layer=a.layer, head=a.head, who=rec_a["who"], set_name="a", extra=extra,
                       num_layers=a.fig.num_layers, num_heads=a.fig.num_heads, analysis=a.fig.analysis)
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.figure import Figure

        a, b = fig.derive("sides", lambda: sides(fig))
        tx, _ = fig.tx, fig.tx._
        ma, mb = _matrix(a), _matrix(b)
        top = max(float(ma.max()), float(mb.max())) or 1.0
        same = _same_tokens(a, b)
        cmap = colormap(fig.spec.colormap)
        n = max(a.n, b.n)
        panel = min(5.2, max(3.0, 0.22 * n + 1.4))
        panels = 3 if same else 2

        def masked(m: np.ndarray, side: Side) -> np.ndarray:
            k = m.shape[0]
            return np.ma.masked_array(m, mask=np.triu(np.ones((k, k), bool), 1)) if side.part.causal else m

        def ticks(labels: list[str]) -> list[str]:
            return [kit.display_label(x) for x in labels]

        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            out = Figure(figsize=(panels * (panel + 0.9) + 0.4, panel + 1.9), dpi=100, layout="constrained")
            axes = out.subplots(1, panels, squeeze=False)[0]
            ims = []
            for ax, m, side, name in ((axes[0], ma, a, "A"), (axes[1], mb, b, "B")):
                ims.append(ax.imshow(masked(m, side), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest"))
                ax.set_title(mpl.fit_title(_("{side}: {description}").format(side=name, description=side.text), 8,
                                           panel * mpl.PT, 48),
                             fontsize=8)
            if same:
                d = ma - mb
                lim = float(np.abs(d).max()) or 1.0
                im = axes[2].imshow(masked(d, a), cmap=colormap(DIVERGING), vmin=-lim, vmax=lim,
                                    interpolation="nearest")
                axes[2].set_title(mpl.fit_title(_diff_text(a, b, tx), 8, panel * mpl.PT, 48) + "\n"
                                  + _("(red: A larger, blue: B larger)"), fontsize=8)
                out.colorbar(im, ax=axes[2], shrink=0.8, aspect=30, pad=0.02).set_label("A − B")
            out.colorbar(ims[1], ax=list(axes[:2]), shrink=0.8, aspect=30, pad=0.02).set_label(_("Attention (A and B)"))
            for ax, labels in zip(axes, (ticks(a.labels), ticks(b.labels), ticks(_diff_labels(a, b)))):
                k = len(labels)
                step = max(1, k // 40 + 1)
                ax.set_xticks(range(0, k, step), labels[::step], rotation=45, ha="right", rotation_mode="anchor",
                              fontsize=7)
                ax.set_yticks(range(0, k, step), labels[::step], fontsize=7)
            out.suptitle(mpl.fit_title(frame.title, 9, out.get_figwidth() * mpl.PT, 150), fontsize=9)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Compare()
