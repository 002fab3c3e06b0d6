"""``view="heads"``: bertviz's head view. Two token columns, one line per (query, key) weighted by attention and
coloured by head; on the page, hover a token, toggle heads, switch layers, filter A→A/A→B/B→A/B→B; the PNG is the
initial layer with every head shown."""

from __future__ import annotations

from ..lazy import np

from ..analysis import dequantize, quantize
from ..i18n import N_
from ..prepare import Prepared
from ..toolkit import mpl
from ..toolkit import page as kit
from ..toolkit.colors import HEAD_COLORS
from .base import CANVAS_SCRIPTS, Frame, View, canvas_data, canvas_page, initial_layer, pair_boundary

__all__ = ["VIEW", "Heads", "row_px"]


def row_px(n: int) -> int:
    """Height of one token row on the page (same rule as view-heads.js)."""
    return max(6, min(22, 1800 // max(n, 1)))


class Heads(View):
    name = "heads"
    scripts = CANVAS_SCRIPTS + ("view-heads.js",)
    live = True
    title = N_("Head view")
    words = {
        "filter": N_("Filter"),
        "heads_label": N_("Heads:"),
        "head_toggle": N_("Head {head}: click to toggle, double-click to show it alone"),
        "title_heads": N_("Head view: {description}"),
        "heads_shown": N_("{count} of {total} heads"),
        "mean_of_all": N_("mean of all {total}"),
        "mean_of_list": N_("mean of {heads}"),
        "target_queries": N_("Target (queries)"),
        "queries_attending": N_("Queries (attending)"),
        "source_keys": N_("Source (keys)"),
        "keys_attended": N_("Keys (attended to)"),
        "attends_to": N_("Attends to"),
        "attended_by": N_("Attended by"),
    }

    def describe(self, fig: Prepared) -> str:
        return fig.describe(layer=initial_layer(fig), head=fig.head if isinstance(fig.head, int) else "all")

    def natural_height(self, fig: Prepared) -> int:
        n = max(len(fig.part.q.labels), len(fig.part.k.labels))
        return kit.HEADER_PX + 34 + 30 + row_px(n) * n + 16

    def page(self, fig: Prepared, frame: Frame) -> str:
        data, blobs = canvas_data(fig, frame, fig.parts)
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        import matplotlib
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure

        p, _ = fig.part, fig.tx._
        weights = dequantize(quantize(p.f32[initial_layer(fig)]))  # as the page decodes them
        nq, nk = weights.shape[1], weights.shape[2]
        n = max(nq, nk)
        heads = [fig.head] if isinstance(fig.head, int) else list(range(fig.num_heads))
        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            out = Figure(figsize=(6.4, min(40.0, max(3.5, 0.22 * n + 1.2))), dpi=100, layout="constrained")
            ax = out.add_subplot()
            for h in heads:
                segs, alphas = [], []
                for qi in range(nq):
                    for ki in range(nk):
                        w = float(weights[h, qi, ki])
                        if w >= 0.01:
                            segs.append([(0.0, qi), (1.0, ki)])
                            alphas.append(min(1.0, w * 0.9))
                if segs:
                    rgba = np.array([matplotlib.colors.to_rgba(HEAD_COLORS[h % len(HEAD_COLORS)], a) for a in alphas])
                    ax.add_collection(LineCollection(segs, colors=rgba, linewidths=1.2))
            fs = max(5.0, min(9.0, 300 / n))
            for qi, lab in enumerate(kit.display_label(x) for x in p.q.labels):
                ax.text(-0.03, qi, lab, ha="right", va="center", fontsize=fs, color="#888" if p.q.special[qi] else "#222")
            for ki, lab in enumerate(kit.display_label(x) for x in p.k.labels):
                ax.text(1.03, ki, lab, ha="left", va="center", fontsize=fs, color="#888" if p.k.special[ki] else "#222")
            boundary = pair_boundary(p.q.segments) if p.square else None
            if boundary:
                ax.plot([-0.6, -0.02], [boundary - 0.5] * 2, color="#ff4040", ls="--", lw=1)
                ax.plot([1.02, 1.6], [boundary - 0.5] * 2, color="#ff4040", ls="--", lw=1)
            ax.set_xlim(-0.6, 1.6)
            ax.set_ylim(n - 0.5, -0.8)
            ax.set_axis_off()
            ax.text(-0.03, -0.9, _("Queries"), ha="right", va="bottom", fontsize=8, color="#666")
            ax.text(1.03, -0.9, _("Keys"), ha="left", va="bottom", fontsize=8, color="#666")
            if len(heads) <= 16:
                handles = [matplotlib.lines.Line2D([], [], color=HEAD_COLORS[h % len(HEAD_COLORS)], lw=2)
                           for h in heads]
                names = [_("head {head}").format(head=h) for h in heads]
                out.legend(handles, names, loc="outside lower center", fontsize=7, frameon=False,
                           ncol=mpl.legend_columns(names, 7, out.get_figwidth() * mpl.PT, min(8, len(heads))))
            out.suptitle(mpl.fit_title(frame.title, 10, out.get_figwidth() * mpl.PT, 70), fontsize=10)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Heads()
