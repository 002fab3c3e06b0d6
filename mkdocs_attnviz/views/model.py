"""``view="model"``: bertviz's model view, a layers × heads grid of thumbnails (each on its own scale, 0 to its
largest weight); click one on the page to enlarge it. The PNG is the same grid."""

from __future__ import annotations

from ..lazy import np

from ..analysis import dequantize, quantize
from ..i18n import N_
from ..prepare import Prepared
from ..toolkit import mpl
from ..toolkit import page as kit
from ..toolkit.colors import colormap
from .base import CANVAS_SCRIPTS, Frame, View, canvas_data, canvas_page

__all__ = ["VIEW", "Model"]


class Model(View):
    name = "model"
    scripts = CANVAS_SCRIPTS + ("attnviz-matrix.js", "view-model.js", "attnviz-keys.js")
    live = True
    title = N_("Model view")
    words = {
        "model_legend": N_("Rows: layers, columns: heads. Each thumbnail has its own colour scale "
                           "(0 to its largest weight). Click one to enlarge it."),
        "enlarged_head": N_("Layer {layer}, head {head} (largest weight {weight})"),
        "enlarged": N_("enlarged: layer {layer}, head {head}"),
        "title_model": N_("Model view: {description}"),
        "click_enlarge": N_("click to enlarge"),
    }

    def describe(self, fig: Prepared) -> str:
        an, tx = fig.analysis, fig.tx
        if an.get("aggregate"):
            parts = [fig.who, tx.layer("all", fig.num_layers, an["aggregate"]), tx.fused(an["fusion"], an["num_heads"])]
        else:
            parts = [fig.who, tx._("all {layers} layers × {heads} heads").format(layers=fig.num_layers,
                                                                              heads=fig.num_heads)]
        return tx.join(parts + [tx.note(n) for n in an.get("notes", [])])

    def natural_height(self, fig: Prepared) -> int:
        thumb = max(28, min(84, 860 // max(fig.num_heads, 1)))
        return kit.HEADER_PX + 30 + (thumb + 4) * fig.num_layers + 20

    def page(self, fig: Prepared, frame: Frame) -> str:
        data, blobs = canvas_data(fig, frame, fig.parts)
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.figure import Figure

        p, _ = fig.part, fig.tx._
        L, H, nq, nk = p.weights.shape
        cmap = colormap(fig.spec.colormap)
        future = np.triu(np.ones((nq, nk), dtype=bool), k=1) if p.causal else np.zeros((nq, nk), dtype=bool)
        weights = dequantize(quantize(p.f32))
        tile = min(1.1, max(0.45, 11.0 / H))
        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            out = Figure(figsize=(H * tile + 1.0, L * tile * min(1.5, nq / nk) + 1.0), dpi=100, layout="constrained")
            axes = out.subplots(L, H, squeeze=False)
            for l in range(L):
                for h in range(H):
                    ax = axes[l][h]
                    m = np.ma.masked_array(weights[l, h], mask=future)
                    ax.imshow(m, cmap=cmap, vmin=0.0, vmax=max(float(m.max()), 1e-9),
                              interpolation="antialiased" if nk > 60 else "nearest", aspect="auto")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for spine in ax.spines.values():
                        spine.set_visible(False)
                    if l == 0:
                        ax.set_title(_("head {head}").format(head=h), fontsize=7)
                    if h == 0:
                        ax.set_ylabel(_("layer {layer}").format(layer=l), fontsize=7)
            title = _("{title} (each tile: 0 to its largest weight)").format(title=frame.title)
            out.suptitle(mpl.fit_title(title, 9, out.get_figwidth() * mpl.PT, 110), fontsize=9)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Model()
