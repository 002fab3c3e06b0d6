"""``view="summary"``: one grid of layers × heads, coloured by a per-head statistic (entropy against log n, mean
attention distance, share of attention to special tokens, to the previous token, to itself, to the next token, to
the first token — the attention sink — and near the diagonal; :func:`mkdocs_attnviz.analysis.head_summary`). Below
the grid, the sink heads and the local heads are named with their shares (:func:`mkdocs_attnviz.analysis.named_heads`).
Hover a cell for every number of that head; click it to open the head's heatmap below the grid. The PNG shows the
eight statistics as eight small grids with their numbers, and the same two lines.

The statistics are computed at build time and stored in the page data (``summary``); the weights of every layer
are packed like the other views' (for the enlarged head).
"""

from __future__ import annotations

from typing import Any

from ..lazy import np

from .. import analysis
from ..attention import Attention
from ..contract import AttentionSet
from ..errors import AttnvizError
from ..i18n import N_
from ..prepare import Prepared
from ..spec import FigureSpec
from ..toolkit import mpl
from ..toolkit import page as kit
from ..toolkit.colors import colormap
from .base import CANVAS_SCRIPTS, Frame, View, canvas_page, payload, side_json

__all__ = ["VIEW", "Summary", "LABELS"]

LABELS = {"entropy": N_("Entropy / log n"), "distance": N_("Mean distance (tokens)"),
          "special": N_("To special tokens"), "previous": N_("To the previous token"), "self": N_("To itself"),
          "next": N_("To the next token"), "sink": N_("To the first token"), "local": N_("Within 2 tokens")}
#: what each statistic is (the page shows it), in the figure's language
DESCRIPTIONS = {
    "entropy": N_("entropy of each query's attention, mean over queries, divided by log n (1 = uniform)"),
    "distance": N_("mean attention distance Σⱼ Aᵢⱼ·|i − j|, mean over queries (tokens)"),
    "special": N_("share of attention given to special tokens"),
    "previous": N_("share given to the previous token"),
    "self": N_("share given to the token itself"),
    "next": N_("share given to the next token"),
    "sink": N_("share given to the first token (an attention sink), mean over the queries after it"),
    "local": N_("share given to the tokens at most 2 positions away, the first token aside, mean over the queries "
                "after it"),
}
#: the two lines naming heads, and how one head is named
NAMED = {"sink": N_("Sink heads (at least half of their attention on the first token): {heads}"),
         "local": N_("Local heads (at least half of their attention within 2 tokens): {heads}")}
NAMED_HEAD = N_("layer {layer} head {head} ({share})")
#: at most this many heads are named in each line
NAMED_MAX = 8


def named_lines(fig: Prepared, stats: dict[str, np.ndarray]) -> list[str]:
    """``Sink heads (...): layer 3 head 1 (0.92), ...`` and the same for local heads, in the figure's language."""
    _ = fig.tx._
    lines = []
    for kind, template in NAMED.items():
        heads = analysis.named_heads(stats, kind)
        names = [_(NAMED_HEAD).format(layer=layer, head=head, share=f"{share:.2f}")
                 for layer, head, share in heads[:NAMED_MAX]]
        if len(heads) > NAMED_MAX:
            names.append(_("and {count} more").format(count=len(heads) - NAMED_MAX))
        lines.append(_(template).format(heads=fig.tx.join(names) if names else _("none")))
    return lines


def _selected(fig: Prepared) -> list[int] | None:
    """The head opened at first: ``layer=`` and ``head=`` when both name one (else none)."""
    if fig.spec.layer == "last" and not isinstance(fig.spec.head, int):
        return None
    if fig.layer == "all" or not isinstance(fig.head, int):
        return None
    return [int(fig.layer), fig.head]


class Summary(View):
    name = "summary"
    scripts = CANVAS_SCRIPTS + ("attnviz-matrix.js", "view-summary.js", "attnviz-keys.js")
    title = N_("Head summary")
    words = {
        "statistic": N_("Statistic"),
        "summary_legend": N_("{description}. Hover a head for its numbers; click it to open its heatmap."),
        "log_n": N_("(log n = {value} nats)"),
        "head_numbers": N_("Layer {layer}, head {head}: {numbers}"),
        "statistic_value": N_("{statistic} {value}"),
        "opened": N_("opened: layer {layer}, head {head}"),
        "title_summary": N_("Head summary: {description}"),
        "entropy_nats": N_("Entropy (nats)"),
        "of_log_n": N_("{value} of log n = {log_n}"),
        "click_open": N_("click to open its heatmap"),
    }
    record_level = True

    def check(self, att: Attention, spec: FigureSpec) -> None:
        if spec.aggregate != "none":
            raise AttnvizError("the summary view shows the raw weights of each head: aggregate= does not apply",
                               option="aggregate")
        if att.meta.get("is_encoder_decoder") and spec.attention not in (None, "encoder"):
            raise AttnvizError("the head summary shows self-attention: use attention=\"encoder\" (the default)",
                               option="attention")

    def describe(self, fig: Prepared) -> str:
        record, tx = fig.record, fig.tx
        what = tx._("head summary of {layers} layers × {heads} heads ({tokens} tokens)").format(
            layers=record.num_layers, heads=record.num_heads, tokens=record.num_tokens)
        return tx.join([fig.who, what] + [tx.note(n) for n in fig.analysis.get("notes", [])])

    def natural_height(self, fig: Prepared) -> int:
        return kit.HEADER_PX + 30 + 26 + 20 + 34 * fig.num_layers + 30 + 44  # + the two lines naming heads

    def page(self, fig: Prepared, frame: Frame) -> str:
        spec, record, _ = fig.spec, fig.record, fig.tx._
        stats = _stats(fig)
        side = side_json(fig.part.q)
        n = record.num_tokens
        data = payload(fig, frame, {"self": AttentionSet(nq=n, nk=n, q=side, k=side, causal=bool(record.causal),
                                                         square=True)},
                       layer=record.num_layers - 1, head="mean", set_name="self", num_layers=record.num_layers,
                       num_heads=record.num_heads, extra={"summary": {
                           "metrics": list(LABELS), "labels": {k: _(v) for k, v in LABELS.items()},
                           "descriptions": {k: _(v) for k, v in DESCRIPTIONS.items()},
                           "log_n": float(np.log(n)) if n > 1 else 0.0,
                           "values": {k: np.round(v, 5).tolist() for k, v in stats.items()},
                           "named": named_lines(fig, stats), "selected": _selected(fig)}})
        blobs = [("self", index, kit.pack_layer(record.weights[index])) for index in range(record.num_layers)]
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.figure import Figure

        record, _ = fig.record, fig.tx._
        stats = _stats(fig)
        L, H = record.num_layers, record.num_heads
        cmap = colormap(fig.spec.colormap, masked=None)
        tile_w = max(2.6, min(5.0, 0.42 * H + 0.8))
        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            out = Figure(figsize=(4 * tile_w + 0.6, 2 * (0.36 * L + 1.3) + 1.2), dpi=100, layout="constrained")
            axes = out.subplots(2, 4, squeeze=False)
            for ax, name in zip(axes.flat, LABELS):
                m = stats[name]
                top = 1.0 if name == "entropy" else (float(m.max()) if m.max() > 0 else 1.0)
                ax.imshow(m, cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest")
                ax.set_title(_(LABELS[name]) + ("" if name == "entropy" else f" (0–{top:.2f})"), fontsize=9)
                ax.set_xticks(range(H), [str(h) for h in range(H)], fontsize=7)
                ax.set_yticks(range(L), [str(layer) for layer in range(L)], fontsize=7)
                ax.set_xlabel(_("head"), fontsize=8)
                ax.set_ylabel(_("layer"), fontsize=8)
                if H <= 16:
                    mpl.cell_values(ax, [(h, layer, f"{v:.1f}" if name == "distance" else f"{v:.2f}",
                                          "black" if v > 0.6 * top else "white")
                                         for layer in range(L) for h in range(H) for v in (float(m[layer, h]),)],
                                    6 if H > 8 else 7)
            width = out.get_figwidth() * mpl.PT
            out.suptitle(mpl.fit_title(frame.title, 10, width, 140), fontsize=10)
            out.supxlabel("\n".join(mpl.fit_title(line, 8, width, 160) for line in named_lines(fig, stats)), fontsize=8)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Summary()


def _stats(fig: Prepared) -> dict[str, np.ndarray]:
    """The head statistics of the figure (:func:`mkdocs_attnviz.analysis.head_summary`), computed once per render."""
    record = fig.record
    return fig.derive("head_summary", lambda: analysis.head_summary(record.weights, record.special,
                                                                    bool(record.causal)))
