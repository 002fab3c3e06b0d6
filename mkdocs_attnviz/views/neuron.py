"""``view="neuron"``: the query and key vectors behind one head's attention for one query token: q, the keys, their
element-wise product q × k, and the softmax of the scaled dot products, which is the model's own attention (the
extraction checks it). The page switches layer, head and query token; the PNG shows the initial choice."""

from __future__ import annotations

import numpy as np

from ..attention import Attention
from ..errors import AttnvizError
from ..prepare import Prepared
from ..spec import FigureSpec
from ..toolkit import mpl
from ..toolkit import page as kit
from .bars import query_text
from .base import Frame, View, canvas_data, canvas_page, initial_layer

__all__ = ["VIEW", "Neuron"]


class Neuron(View):
    name = "neuron"
    scripts = ("attnviz-common.js", "attnviz-canvas.js", "view-neuron.js")
    uses_query = True
    captures = ("qk",)

    def check(self, att: Attention, spec: FigureSpec) -> None:
        if spec.aggregate != "none":
            raise AttnvizError("the neuron view shows the raw weights of each head: aggregate= does not apply",
                               option="aggregate")
        if spec.granularity != "token":
            raise AttnvizError("the neuron view shows token vectors: granularity=\"word\" does not apply",
                               option="granularity")
        if spec.data is not None or att.meta.get("source") == "data":
            raise AttnvizError("the neuron view needs a model (query and key vectors), not data=", option="view")
        if spec.special_tokens == "hide-raw":
            raise AttnvizError("the neuron view shows the softmax of one head over every token: special_tokens= "
                               "does not apply", option="special_tokens")
        if "query" not in att.arrays or "key" not in att.arrays:
            raise AttnvizError("the neuron view needs the query and key vectors, which this record lacks",
                               option="view")
        if spec.special_tokens == "hide":
            raise AttnvizError("the neuron view shows the softmax over every token: special_tokens=\"hide\" "
                               "does not apply", option="special_tokens")

    @staticmethod
    def head(fig: Prepared) -> int:
        return fig.head if isinstance(fig.head, int) else 0

    def describe(self, fig: Prepared) -> str:
        text = fig.describe(layer=initial_layer(fig), head=self.head(fig))
        return fig.tx.join([text, fig.tx._("query {query}").format(query=query_text(fig, fig.query or 0))])

    def height(self, fig: Prepared) -> int:
        if fig.spec.height:
            return int(fig.spec.height)
        return kit.HEADER_PX + 30 + 70 + 18 * len(fig.part.k.labels) + 20

    def page(self, fig: Prepared, frame: Frame) -> str:
        data, blobs = canvas_data(fig, frame, {fig.part.name: fig.part}, query=fig.query or 0)
        q, k = fig.record.arrays["query"], fig.record.arrays["key"]
        data["qk"] = {"d": int(q.shape[-1]), "scale": fig.record.meta.get("qk_scale")}
        qk = [(which, index, kit.pack_f32(arr[index])) for which, arr in (("query", q), ("key", k))
              for index in range(arr.shape[0])]
        return canvas_page(fig, frame, self, data, blobs, qk)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.colors import LinearSegmentedColormap
        from matplotlib.figure import Figure

        p, record, _ = fig.part, fig.record, fig.tx._
        layer, h, q_index = initial_layer(fig), self.head(fig), fig.query or 0
        q = record.arrays["query"][layer, h, q_index]
        k = record.arrays["key"][layer, h]
        n, d = k.shape
        prod = k * q[None, :]
        scale = float(record.meta.get("qk_scale", [d ** -0.5] * fig.num_layers)[layer])
        scores = prod.sum(-1) * scale
        masked = np.arange(n) > q_index if p.causal else np.zeros(n, dtype=bool)
        e = np.where(masked, 0.0, np.exp(scores - scores[~masked].max()))
        soft = e / e.sum()
        ticks = [kit.display_label(x) for x in p.k.labels]
        with mpl.rc(fig.spec.font or frame.font, fig.tx.lang):
            div = LinearSegmentedColormap.from_list("attnviz-diverging", ["#ff7f0e", "#ffffff", "#1f77b4"])
            out = Figure(figsize=(10.0, max(3.2, 0.24 * n + 1.8)), dpi=100, layout="constrained")
            gs = out.add_gridspec(2, 3, height_ratios=[1, max(2, n)], width_ratios=[d, d, 12])
            m = max(float(np.abs(k).max()), float(np.abs(q).max()), 1e-9)
            mp = max(float(np.abs(prod).max()), 1e-9)
            axq = out.add_subplot(gs[0, 0])
            axq.imshow(q[None, :], cmap=div, vmin=-m, vmax=m, aspect="auto")
            axq.set_yticks([0], [kit.display_label(x) for x in p.q.labels][q_index:q_index + 1])
            axq.set_xticks([])
            axq.set_title(_("query q"), fontsize=9)
            axk = out.add_subplot(gs[1, 0])
            kk = np.ma.masked_array(k, mask=np.repeat(masked[:, None], d, 1))
            axk.imshow(kk, cmap=div, vmin=-m, vmax=m, aspect="auto", interpolation="nearest")
            axk.set_yticks(range(n), ticks, fontsize=7)
            axk.set_xticks([])
            axk.set_title(_("keys k"), fontsize=9)
            axp = out.add_subplot(gs[1, 1])
            axp.imshow(np.ma.masked_array(prod, mask=kk.mask), cmap=div, vmin=-mp, vmax=mp, aspect="auto",
                       interpolation="nearest")
            axp.set_yticks([])
            axp.set_xticks([])
            axp.set_title("q × k", fontsize=9)
            axs = out.add_subplot(gs[1, 2])
            axs.barh(range(n), soft, color="#3355cc")
            axs.set_ylim(n - 0.5, -0.5)
            axs.set_yticks([])
            axs.set_xlim(0, max(1e-9, float(soft.max())) * 1.25)
            for i in range(n):
                axs.text(soft[i], i, " " + _("masked") if masked[i] else f" {soft[i]:.2f}", va="center", fontsize=6)
            axs.set_title("softmax(q·k × %.3g)" % scale, fontsize=9)
            out.add_subplot(gs[0, 1]).set_axis_off()
            out.add_subplot(gs[0, 2]).set_axis_off()
            out.suptitle(mpl.wrap_title(frame.title, 100), fontsize=10)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Neuron()
