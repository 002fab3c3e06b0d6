"""PNG fallbacks of the views (matplotlib, Agg, no pyplot, deterministic).

* ``bars``: the bar chart of the initial selection (received, or given by ``query``).
* ``heads``: the head view of the initial layer: two token columns and one line per (query, key) per
  head shown, opacity = weight, colour = head.
* ``neuron``: q, the keys, q × k, and the softmax for the initial layer, head and query.
* ``classic``: :func:`classic` draws a heatmap with the literal matplotlib recipe (figure 8 × 6 in,
  ``imshow`` viridis, key labels rotated 45° and right-aligned, colour bar, title, axis labels,
  ``tight_layout``), for ``style="classic"``.

The model view's PNG is the layers × heads small multiples of :func:`mkdocs_attnviz.render.figure_png`.
"""

from __future__ import annotations

import textwrap

import numpy as np

from ..analysis import dequantize, head_matrix, quantize
from ..attention import Attention
from ..toolkit import page as kit
from ..spec import FigureSpec, resolve_head, resolve_layer, resolve_query
from . import describe, shown_part

__all__ = ["png", "classic", "HEAD_COLORS"]

HEAD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173"]


def _rc(font: str | None) -> dict:
    from ..render import _font_families

    return {"font.family": _font_families(font), "font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "attnviz"}


def _save(fig) -> bytes:
    """PNG, or SVG inside ``render.image_format("svg")`` (see :func:`mkdocs_attnviz.render.save_figure`)."""
    from ..render import save_figure

    return save_figure(fig, dpi=100, facecolor="white")


def _ticks(labels: list[str]) -> list[str]:

    return [kit.display_label(x) for x in labels]


def png(att: Attention, spec: FigureSpec, *, font: str | None = None) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    p = shown_part(att, spec)
    layer = resolve_layer(spec.layer, att.num_layers)
    layer = att.num_layers - 1 if layer == "all" else int(layer)
    head = resolve_head(spec.head, att.num_heads)
    weights = dequantize(quantize(p.weights[layer]))  # as the page decodes them
    title = "\n".join(textwrap.wrap(describe(att, spec), 70 if spec.view == "heads" else 100))
    nq, nk = weights.shape[1], weights.shape[2]
    with matplotlib.rc_context(_rc(font)):
        if spec.view == "bars":
            m = head_matrix(weights, "mean" if head == "all" else head)
            q = resolve_query(spec.query, p.q.labels, p.q.tokens)
            values = m.mean(axis=0) if q is None else m[q]
            fig = Figure(figsize=(min(16.0, max(6.0, 0.3 * nk + 2)), 4.8), dpi=100, layout="constrained")
            ax = fig.add_subplot()
            colors = ["#888888" if s else "#3355cc" for s in p.k.special]
            if q is not None and p.square:
                colors[q] = "#ff7f0e"
            ax.bar(range(nk), values, color=colors, width=0.78)
            if q is not None and p.causal and q < nk - 1:
                ax.axvspan(q + 0.5, nk - 0.5, color="#bbbbbb", alpha=0.3, hatch="//", lw=0)
            step = max(1, nk // 60 + 1)
            ax.set_xticks(range(0, nk, step), _ticks(p.k.labels)[::step], rotation=45, ha="right",
                          rotation_mode="anchor", fontsize=8)
            ax.set_xlim(-0.6, nk - 0.4)
            ax.set_ylabel("Attention received (mean over queries)" if q is None else "Attention weight")
            ax.set_xlabel("Key tokens")
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.grid(axis="y", color="#e4e4e4", lw=0.8)
            ax.set_axisbelow(True)
        elif spec.view == "heads":
            n = max(nq, nk)
            heads = [head] if isinstance(head, int) else list(range(att.num_heads))
            fig = Figure(figsize=(6.4, min(40.0, max(3.5, 0.22 * n + 1.2))), dpi=100, layout="constrained")
            ax = fig.add_subplot()
            from matplotlib.collections import LineCollection

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
            for qi, lab in enumerate(_ticks(p.q.labels)):
                ax.text(-0.03, qi, lab, ha="right", va="center", fontsize=fs, color="#888" if p.q.special[qi] else "#222")
            for ki, lab in enumerate(_ticks(p.k.labels)):
                ax.text(1.03, ki, lab, ha="left", va="center", fontsize=fs, color="#888" if p.k.special[ki] else "#222")
            boundary = next((i for i, s in enumerate(p.q.segments) if s == 1), None) if p.square else None
            if boundary:
                ax.plot([-0.6, -0.02], [boundary - 0.5] * 2, color="#ff4040", ls="--", lw=1)
                ax.plot([1.02, 1.6], [boundary - 0.5] * 2, color="#ff4040", ls="--", lw=1)
            ax.set_xlim(-0.6, 1.6)
            ax.set_ylim(n - 0.5, -0.8)
            ax.set_axis_off()
            ax.text(-0.03, -0.9, "Queries", ha="right", va="bottom", fontsize=8, color="#666")
            ax.text(1.03, -0.9, "Keys", ha="left", va="bottom", fontsize=8, color="#666")
            if len(heads) <= 16:
                handles = [matplotlib.lines.Line2D([], [], color=HEAD_COLORS[h % len(HEAD_COLORS)], lw=2) for h in heads]
                fig.legend(handles, [f"head {h}" for h in heads], loc="outside lower center",
                           ncol=min(8, len(heads)), fontsize=7, frameon=False)
        elif spec.view == "model":
            return _model(att, spec, p, font)
        else:  # neuron
            return _neuron(att, spec, p, layer, head, title, font)
        fig.suptitle(title, fontsize=10)
        return _save(fig)


def _model(att, spec, p, font) -> bytes:
    """The layers × heads grid, each thumbnail on its own scale (0 to its largest weight), as on the page."""
    import matplotlib
    from matplotlib.figure import Figure

    from ..spec import COLORMAPS

    L, H, nq, nk = p.weights.shape
    cmap = matplotlib.colormaps[COLORMAPS.get(spec.colormap, "viridis")].with_extremes(bad="#d0d0d0")
    future = np.triu(np.ones((nq, nk), dtype=bool), k=1) if p.causal else np.zeros((nq, nk), dtype=bool)
    weights = dequantize(quantize(p.weights))
    tile = min(1.1, max(0.45, 11.0 / H))
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(H * tile + 1.0, L * tile * min(1.5, nq / nk) + 1.0), dpi=100, layout="constrained")
        axes = fig.subplots(L, H, squeeze=False)
        for l in range(L):
            for h in range(H):
                ax = axes[l][h]
                m = np.ma.masked_array(weights[l, h], mask=future)
                ax.imshow(m, cmap=cmap, vmin=0.0, vmax=max(float(m.max()), 1e-9), interpolation="antialiased"
                          if nk > 60 else "nearest", aspect="auto")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if l == 0:
                    ax.set_title(f"head {h}", fontsize=7)
                if h == 0:
                    ax.set_ylabel(f"layer {l}", fontsize=7)
        fig.suptitle("\n".join(textwrap.wrap(describe(att, spec) + " (each tile: 0 to its largest weight)", 110)),
                     fontsize=9)
        return _save(fig)


def _neuron(att, spec, p, layer, head, title, font) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    h = head if isinstance(head, int) else 0
    q_index = resolve_query(spec.query, p.q.labels, p.q.tokens)
    q_index = 0 if q_index is None else q_index
    q = att.arrays["query"][layer, h, q_index]
    k = att.arrays["key"][layer, h]
    n, d = k.shape
    prod = k * q[None, :]
    dots = prod.sum(-1)
    scale = float(att.meta.get("qk_scale", [d ** -0.5] * att.num_layers)[layer])
    scores = dots * scale
    masked = np.arange(n) > q_index if p.causal else np.zeros(n, dtype=bool)
    e = np.where(masked, 0.0, np.exp(scores - scores[~masked].max()))
    soft = e / e.sum()
    with matplotlib.rc_context(_rc(font)):
        from matplotlib.colors import LinearSegmentedColormap

        div = LinearSegmentedColormap.from_list("attnviz-diverging", ["#ff7f0e", "#ffffff", "#1f77b4"])
        fig = Figure(figsize=(10.0, max(3.2, 0.24 * n + 1.8)), dpi=100, layout="constrained")
        gs = fig.add_gridspec(2, 3, height_ratios=[1, max(2, n)], width_ratios=[d, d, 12])
        m = max(float(np.abs(k).max()), float(np.abs(q).max()), 1e-9)
        mp = max(float(np.abs(prod).max()), 1e-9)
        axq = fig.add_subplot(gs[0, 0])
        axq.imshow(q[None, :], cmap=div, vmin=-m, vmax=m, aspect="auto")
        axq.set_yticks([0], [_ticks(p.q.labels)[q_index]])
        axq.set_xticks([])
        axq.set_title("query q", fontsize=9)
        axk = fig.add_subplot(gs[1, 0])
        kk = np.ma.masked_array(k, mask=np.repeat(masked[:, None], d, 1))
        axk.imshow(kk, cmap=div, vmin=-m, vmax=m, aspect="auto", interpolation="nearest")
        axk.set_yticks(range(n), _ticks(p.k.labels), fontsize=7)
        axk.set_xticks([])
        axk.set_title("keys k", fontsize=9)
        axp = fig.add_subplot(gs[1, 1])
        axp.imshow(np.ma.masked_array(prod, mask=kk.mask), cmap=div, vmin=-mp, vmax=mp, aspect="auto",
                   interpolation="nearest")
        axp.set_yticks([])
        axp.set_xticks([])
        axp.set_title("q × k", fontsize=9)
        axs = fig.add_subplot(gs[1, 2])
        axs.barh(range(n), soft, color="#3355cc")
        axs.set_ylim(n - 0.5, -0.5)
        axs.set_yticks([])
        axs.set_xlim(0, max(1e-9, float(soft.max())) * 1.25)
        for i in range(n):
            axs.text(soft[i], i, " masked" if masked[i] else f" {soft[i]:.2f}", va="center", fontsize=6)
        axs.set_title("softmax(q·k × %.3g)" % scale, fontsize=9)
        fig.add_subplot(gs[0, 1]).set_axis_off()
        fig.add_subplot(gs[0, 2]).set_axis_off()
        fig.suptitle(title, fontsize=10)
        return _save(fig)


def classic(att: Attention, spec: FigureSpec, *, font: str | None = None) -> bytes:
    """The classic matplotlib recipe, literally (one layer and head selection; the caption is the title).

    ``plt.figure(figsize=(8, 6)); plt.imshow(m, cmap="viridis"); plt.xticks(range(n), tokens, rotation=45,
    ha="right"); plt.yticks(range(n), tokens); plt.colorbar(label="Attention weight"); plt.title(...);
    plt.xlabel("Key tokens"); plt.ylabel("Query tokens"); plt.tight_layout()`` — written against the
    object API so that it never touches pyplot's global state. Matplotlib's defaults apply (DejaVu Sans
    10 pt), with a CJK font as per-glyph fallback.
    """
    import matplotlib
    from matplotlib.figure import Figure

    from ..render import _font_families

    from . import as_attention

    a = as_attention(att, spec)
    layer = resolve_layer(spec.layer, a.num_layers)
    layer = a.num_layers - 1 if layer == "all" else int(layer)
    head = resolve_head(spec.head, a.num_heads)
    w = np.asarray(a.weights[layer], dtype=np.float64)  # full precision, as the recipe's own array
    m = w.max(0) if head == "max" else w[head] if isinstance(head, int) else w.mean(0)
    labels = list(a.labels)
    n = len(labels)
    with matplotlib.rc_context({"font.family": _font_families(font)}):
        fig = Figure(figsize=(8, 6))
        ax = fig.add_subplot()
        im = ax.imshow(m, cmap=matplotlib.colormaps[_cmap(spec)])
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        fig.colorbar(im, ax=ax, label="Attention weight")
        ax.set_title(spec.caption or "Attention heatmap")
        ax.set_xlabel("Key tokens")
        ax.set_ylabel("Query tokens")
        fig.tight_layout()
        from ..render import save_figure

        return save_figure(fig)  # savefig(format="png", metadata={"Software": None}): the recipe's own PNG


def _cmap(spec: FigureSpec) -> str:
    from ..spec import COLORMAPS

    return COLORMAPS.get(spec.colormap, "viridis")
