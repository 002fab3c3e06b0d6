"""``view="bars"``: the attention each token *receives* (mean over the queries of each column), or that one query
token *gives* (``query=``), for one layer and a head aggregation; a canvas page and a matplotlib bar chart."""

from __future__ import annotations


from ..analysis import dequantize, head_matrix, quantize
from ..i18n import N_
from ..prepare import Prepared
from ..toolkit import mpl
from ..toolkit import page as kit
from .base import CANVAS_SCRIPTS, Frame, View, canvas_data, canvas_page, initial_layer

__all__ = ["VIEW", "Bars", "query_text"]


def query_text(fig: Prepared, index: int) -> str:
    """``token 3 “cat”``."""
    return fig.tx.token(index, fig.part.q.labels[index])


class Bars(View):
    name = "bars"
    scripts = CANVAS_SCRIPTS + ("view-bars.js",)
    live = True
    title = N_("Attention bar chart")
    words = {
        "token": N_("Token"),
        "chart": N_("Chart"),
        "bars": N_("bars"),
        "line": N_("line"),
        "received": N_("Attention received (mean over queries)"),
        "attention_weight": N_("Attention weight"),
        "all_received": N_("all (received)"),
        "masked_later": N_("masked: later tokens"),
        "attention_received": N_("attention received (mean over queries)"),
        "attention_given": N_("attention given by {query}"),
        "title_bars": N_("Bar chart: {description}"),
    }
    uses_query = True

    def describe(self, fig: Prepared) -> str:
        text, _ = fig.describe(layer=initial_layer(fig)), fig.tx._
        if fig.query is not None:
            what = _("attention given by {query}").format(query=query_text(fig, fig.query))
        else:
            what = _("attention received (mean over queries)")
        return fig.tx.join([text, what])

    def natural_height(self, fig: Prepared) -> int:
        longest = max((len(x) for x in fig.part.k.labels), default=1)
        return kit.HEADER_PX + 30 + 300 + min(120, 12 + int(min(longest, 14) * 5.5))

    def page(self, fig: Prepared, frame: Frame) -> str:
        data, blobs = canvas_data(fig, frame, fig.parts, query=fig.query)
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.figure import Figure

        p, _ = fig.part, fig.tx._
        weights = dequantize(quantize(p.f32[initial_layer(fig)]))  # as the page decodes them
        nk = weights.shape[2]
        q = fig.query
        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            m = head_matrix(weights, "mean" if fig.head == "all" else fig.head)
            values = m.mean(axis=0) if q is None else m[q]
            out = Figure(figsize=(min(16.0, max(6.0, 0.3 * nk + 2)), 4.8), dpi=100, layout="constrained")
            ax = out.add_subplot()
            colors = ["#888888" if s else "#3355cc" for s in p.k.special]
            if q is not None and p.square:
                colors[q] = "#ff7f0e"
            ax.bar(range(nk), values, color=colors, width=0.78)
            if q is not None and p.causal and q < nk - 1:
                ax.axvspan(q + 0.5, nk - 0.5, color="#bbbbbb", alpha=0.3, hatch="//", lw=0)
            step = max(1, nk // 60 + 1)
            ax.set_xticks(range(0, nk, step), [kit.display_label(x) for x in p.k.labels][::step], rotation=45,
                          ha="right", rotation_mode="anchor", fontsize=8)
            ax.set_xlim(-0.6, nk - 0.4)
            ax.set_ylabel(_("Attention received (mean over queries)") if q is None else _("Attention weight"))
            ax.set_xlabel(_("Key tokens"))
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.grid(axis="y", color="#e4e4e4", lw=0.8)
            ax.set_axisbelow(True)
            out.suptitle(mpl.fit_title(frame.title, 10, out.get_figwidth() * mpl.PT, 100), fontsize=10)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Bars()
