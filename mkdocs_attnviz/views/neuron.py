"""``view="neuron"``: the query and key vectors behind one head's attention for one query token: q, the keys, their
element-wise product q × k, the score ``f(q·k × scale) + bias`` (f: the model's soft cap, Gemma 2; bias: T5's relative
position bias, ALiBi, any finite term of the mask) and its softmax, which is the model's own attention (the
extraction checks it). Grouped-query attention shows the key/value head each query head reads; keys a causal,
sliding-window or chunked mask closes are drawn masked. Works on every architecture that routes through
transformers' attention interface, on BLOOM and Falcon (replayed), and on the cross attention of T5/BART
(``attention="cross"``). The page switches layer, head and query token; the PNG shows the initial choice."""

from __future__ import annotations

from typing import Any

from ..lazy import np

from ..attention import Attention
from ..errors import AttnvizError
from ..i18n import N_
from ..prepare import Prepared
from ..spec import FigureSpec
from ..toolkit import mpl
from ..toolkit import page as kit
from . import CAPTURES
from .bars import query_text
from .base import CANVAS_SCRIPTS, Frame, View, canvas_data, canvas_page, initial_layer

__all__ = ["VIEW", "Neuron", "qk_set", "row"]


def qk_set(att: Attention, wanted: str | None) -> tuple[str, str]:
    """``(set, array prefix)`` of the attention set ``wanted`` (None: the record's own self-attention)."""
    main = "encoder" if att.meta.get("is_encoder_decoder") else "self"
    name = wanted or main
    return name, "" if name == main else f"{name}_"


def _allowed(info: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str, layer: int, q: int, nk: int
             ) -> np.ndarray:
    mask = info["masks"][layer]
    if "explicit" in mask:
        return np.asarray(arrays[f"{prefix}mask"][mask["explicit"]][q], dtype=bool)
    offset = np.arange(nk) - q
    out = np.ones(nk, dtype=bool)
    if mask.get("right") is not None:
        out &= offset <= mask["right"]
    if mask.get("left") is not None:
        out &= offset >= -mask["left"]
    return out


def row(att: Attention, name: str, layer: int, head: int, q: int) -> dict[str, Any]:
    """One query's numbers, as the page computes them: q, the keys of its key/value head, q × k, q·k, the bias, the
    score, the mask and the softmax."""
    _, prefix = qk_set(att, None if name in ("self", "encoder") else name)
    info = att.meta["qk"][name]
    arrays = att.arrays
    query = arrays[f"{prefix}query"][layer, head, q].astype(np.float64)
    kv = head // (info["heads"] // info["kv_heads"])
    keys = arrays[f"{prefix}key"][layer, kv].astype(np.float64)
    nk = keys.shape[0]
    prod = keys * query[None, :]
    dot = prod.sum(-1)
    scale = float(info["scale"][layer])
    score = dot * scale
    cap = (info.get("softcap") or [None] * (layer + 1))[layer]
    if cap:
        score = np.tanh(score / cap) * cap
    bias = None
    if info.get("bias"):
        b = arrays[f"{prefix}bias"]
        b = b[layer if b.shape[0] > 1 else 0]
        bias = np.asarray(b[head if b.shape[0] > 1 else 0, q if b.shape[1] > 1 else 0], dtype=np.float64)
        score = score + bias
    allowed = _allowed(info, arrays, prefix, layer, q, nk)
    top = score[allowed].max() if allowed.any() else 0.0
    e = np.where(allowed, np.exp(score - top), 0.0)
    return {"q": query, "k": keys, "prod": prod, "dot": dot, "bias": bias, "score": score, "allowed": allowed,
            "softmax": e / max(e.sum(), 1e-300), "kv": kv, "scale": scale, "softcap": cap}


class Neuron(View):
    name = "neuron"
    scripts = CANVAS_SCRIPTS + ("view-neuron.js",)
    title = N_("Neuron view")
    words = {
        "neuron_legend": N_("blue: positive, orange: negative; score = q · k × {scale}; softmax "
                            "over the keys = the attention weight"),
        "neuron_legend_bias": N_("blue: positive, orange: negative; score = q · k × {scale} + bias; "
                                 "softmax over the keys = the attention weight"),
        "neuron_legend_softcap": N_("blue: positive, orange: negative; score = {cap} · tanh(q · k × "
                                    "{scale} / {cap}), plus the bias if there is one; softmax over the "
                                    "keys = the attention weight"),
        "bias": N_("bias"),
        "kv_shared": N_("key/value head {kv} is shared by query heads {first}–{last}"),
        "masked_window": N_("masked (outside this layer's attention window)"),
        "query_q": N_("query q"),
        "keys_k": N_("keys k"),
        "score": N_("score"),
        "masked_word": N_("masked"),
        "title_neuron": N_("Neuron view: {description}"),
        "query_of": N_("query {query}"),
    }
    uses_query = True
    captures = CAPTURES["neuron"]

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
        name, prefix = qk_set(att, spec.attention)
        if f"{prefix}query" not in att.arrays or name not in att.meta.get("qk", {}):
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

    def natural_height(self, fig: Prepared) -> int:
        return kit.HEADER_PX + 30 + 70 + 18 * len(fig.part.k.labels) + 20

    def page(self, fig: Prepared, frame: Frame) -> str:
        data, blobs = canvas_data(fig, frame, {fig.part.name: fig.part}, query=fig.query or 0)
        name, prefix = qk_set(fig.record, fig.spec.attention)
        info, arrays = fig.record.meta["qk"][name], fig.record.arrays
        data["qk"] = {**info, "d": int(arrays[f"{prefix}query"].shape[-1])}
        qk = [(which, index, kit.pack_f32(arr[index])) for which in ("query", "key", "bias", "mask")
              if f"{prefix}{which}" in arrays for arr in [arrays[f"{prefix}{which}"]] for index in range(arr.shape[0])]
        return canvas_page(fig, frame, self, data, blobs, qk)

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        from matplotlib.colors import LinearSegmentedColormap
        from matplotlib.figure import Figure

        p, _ = fig.part, fig.tx._
        layer, h, q_index = initial_layer(fig), self.head(fig), fig.query or 0
        name, _prefix = qk_set(fig.record, fig.spec.attention)
        r = row(fig.record, name, layer, h, q_index)
        q, k, prod, soft, masked = r["q"], r["k"], r["prod"], r["softmax"], ~r["allowed"]
        n, d = k.shape
        ticks = [kit.display_label(x) for x in p.k.labels]
        info = fig.record.meta["qk"][name]
        grouped = info["kv_heads"] < info["heads"]
        formula = "q·k × %.3g" % r["scale"]
        if r["softcap"]:
            formula = "%g·tanh(%s / %g)" % (r["softcap"], formula, r["softcap"])
        if r["bias"] is not None:
            formula += " + bias"
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
            axk.set_title(_("keys k (key/value head {kv})").format(kv=r["kv"]) if grouped else _("keys k"), fontsize=9)
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
            axs.set_title("softmax(%s)" % formula, fontsize=9)
            out.add_subplot(gs[0, 1]).set_axis_off()
            out.add_subplot(gs[0, 2]).set_axis_off()
            out.suptitle(mpl.fit_title(frame.title, 10, out.get_figwidth() * mpl.PT, 100), fontsize=10)
            return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Neuron()
