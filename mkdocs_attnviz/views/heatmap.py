"""``view="heatmap"`` (the default): the query × key matrix, interactive with Bokeh, and its PNG.

Each row is a *query* token (the token that attends) and each column a *key* token (the token attended to); the
cell in row ``q`` and column ``k`` is the weight query ``q`` gives key ``k``. Every row sums to 1. The first token
is at the top left, like reading a table. Colours use the colour map on a scale from **0 to the largest weight of
the matrix shown** (not a fixed 0..1: attention is often spread thin); the PNG uses exactly the same matrix and
scale as the page's initial view. ``layer="all"`` and/or ``head="all"`` give *small multiples* on one shared
scale (layers as rows and heads as columns when both are ``all``). A causal model's future is hatched, a pair's
boundary dashed, and ``values`` writes the numbers in the cells.

The page (``figure.html.jinja`` + ``view-heatmap.js``) holds the page contract every view's page holds
(:class:`~mkdocs_attnviz.contract.Payload`: model, sentence, the attention set's tokens, the initial layer/head, the
scale), one ``<script type="application/octet-stream" data-set="S" data-layer="L">`` per layer (``uint8``
``round(w * scale)`` of shape ``(heads, n, n)``, zlib, base64: :func:`~mkdocs_attnviz.toolkit.page.pack_layer`,
decoded in the browser only when first shown; a weight read back is within ``1/510``), its controls built by the
script like every view's, and the Bokeh document (:mod:`mkdocs_attnviz.toolkit.bokeh`). ``style="classic"`` draws the PNG with the literal
matplotlib recipe people copy.
"""

from __future__ import annotations

import math
from typing import Iterator

from ..lazy import np

from .. import alternative
from ..analysis import dequantize, head_matrix, quantize
from ..attention import Attention
from ..errors import AttnvizError
from ..i18n import N_
from ..prepare import Prepared
from ..spec import FigureSpec
from ..texts import Texts
from ..toolkit import assets, bokeh, mpl
from ..toolkit import page as kit
from ..toolkit.colors import colormap
from . import longinput
from .base import Frame, View, pair_boundary, payload, set_json

__all__ = ["VIEW", "Heatmap", "tiles", "gap", "VALUES_MAX_TOKENS"]

#: ``values="auto"`` writes the numbers in the cells up to this many tokens
VALUES_MAX_TOKENS = 20


def tiles(layer: int | str, head: int | str, num_layers: int, num_heads: int
          ) -> tuple[int, int, list[tuple[int, int | str]]]:
    """``(rows, cols, [(layer, head), ...])`` of the small multiples (row-major). Same rule as view-heatmap.js."""
    if layer == "all" and head == "all":
        return num_layers, num_heads, [(l, h) for l in range(num_layers) for h in range(num_heads)]
    if layer == "all":
        found: list[tuple[int, int | str]] = [(l, head) for l in range(num_layers)]
    elif head == "all":
        found = [(int(layer), h) for h in range(num_heads)]
    else:
        return 1, 1, [(int(layer), head)]
    cols = math.ceil(math.sqrt(len(found)))
    return math.ceil(len(found) / cols), cols, found


def gap(n: int) -> int:
    """Gap between small multiples, in cells. Same rule as view-heatmap.js."""
    return max(1, round(n / 12))


def _document_words(tx: Texts) -> tuple[str, str, str]:
    """The words of the Bokeh document: its axis titles and its colour bar's."""
    return tx._("Key tokens"), tx._("Query tokens"), tx._("Attention weight")


def values_on(spec: FigureSpec, n: int) -> bool:
    """Numbers in the cells: ``values="true"``, or ``auto`` up to :data:`VALUES_MAX_TOKENS` tokens."""
    return spec.values == "true" or (spec.values == "auto" and n <= VALUES_MAX_TOKENS)


def scale_max(matrix: np.ndarray) -> float:
    """Top of the colour scale: the largest weight shown (1 if everything is 0)."""
    finite = matrix[np.isfinite(matrix)]
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def plot_height(labels: list[str]) -> int:
    """CSS pixels of the plot (grid, 45° labels, axis title) for these token labels."""
    grid = min(620, max(260, 26 * len(labels)))
    longest = max((len(kit.display_label(lab)) for lab in labels), default=1)
    return grid + 40 + int(longest * 7 * 0.72) + 14


def staircase(n: int) -> list[tuple[float, float]]:
    """Outline of the cells with key > query, in imshow coordinates (cell centres at integers); the page's
    mask has the same shape (view-heatmap.js ``staircase``)."""
    pts = [(0.5, -0.5), (n - 0.5, -0.5)]
    for q in range(n - 2, -1, -1):
        pts += [(q + 1.5, q + 0.5), (q + 0.5, q + 0.5)]
    return pts


class Heatmap(View):
    name = "heatmap"
    scripts = ("attnviz-common.js", "view-heatmap.js", "attnviz-keys.js")
    live = True
    title = N_("Attention heatmap")
    words = {
        "tokens": N_("Tokens"),
        "first_token": N_("first token shown"),
        "last_token": N_("last token shown"),
        "masked": N_("masked (a later token: the model cannot see it)"),
        "key_tokens": N_("Key tokens"),
        "query_tokens": N_("Query tokens"),
        "key_tokens_heads": N_("Key tokens (tiles: heads)"),
        "query_tokens_layers": N_("Query tokens (tiles: layers)"),
        "key_tokens_tile": N_("Key tokens (per tile)"),
        "query_tokens_tile": N_("Query tokens (per tile)"),
        "block_max": N_("{value} (the largest in a block of {size} × {size} tokens)"),
        "first_tile": N_("first tile of {layers}, {heads}"),
    }
    long_inputs = True

    def check(self, att: Attention, spec: FigureSpec) -> None:
        if spec.attention == "cross" and att.meta.get("is_encoder_decoder") and "cross" in att.arrays:
            raise AttnvizError("the heatmap shows square attention sets; show cross attention (target × source) "
                               "with view=\"heads\", \"bars\" or \"model\"", option="attention")
        if att.layered:
            longinput.check(spec, att.num_tokens)

    def files(self, fig: Prepared, frame: Frame) -> Iterator[tuple[str, bytes]]:
        """The Bokeh document the page links (``@attnviz-doc-<hash>.js``: a file the site's heatmaps of the same
        colour map, words and pair/no pair share) and a long input's side files (one per layer and head, and
        their overviews): see :mod:`.longinput`."""
        shared = self._shared_document(fig, frame)
        if shared:
            yield "@" + shared.name, shared.script.encode("utf-8")
        if fig.record.layered and not frame.inline:
            yield from longinput.files(fig)

    def _numbers(self, fig: Prepared) -> tuple[int, int, int | None, tuple[str, str, str]]:
        """What the Bokeh document depends on: tokens, plot height, pair boundary, its words."""
        spec, p = fig.spec, fig.part
        plot_px = max(120, int(spec.height) - kit.HEADER_PX - 6) if spec.height else plot_height(p.q.labels)
        return len(p.q.labels), plot_px, pair_boundary(p.q.segments), _document_words(fig.tx)

    def ahead(self, spec: FigureSpec) -> tuple:
        """The Bokeh document's template for ``spec``'s colour map, pair and language (:func:`toolkit.bokeh.template`)."""
        return bokeh.template(spec.colormap, spec.pair is not None, _document_words(Texts(spec.lang)))

    def adopt(self, made: tuple) -> None:
        bokeh.adopt(*made)

    def _shared_document(self, fig: Prepared, frame: Frame) -> bokeh.SharedDocument | None:
        if frame.self_contained:
            return None
        n, plot_px, boundary, labels = self._numbers(fig)
        return bokeh.shared_document(n, plot_px, fig.spec.colormap, boundary, labels)

    def natural_height(self, fig: Prepared) -> int:
        return kit.HEADER_PX + plot_height(fig.part.q.labels) + 6

    # ---------------------------------------------------------------------------------------------- page
    def page(self, fig: Prepared, frame: Frame) -> str:
        spec, p, record = fig.spec, fig.part, fig.record
        n, plot_px, boundary, labels = self._numbers(fig)
        long = record.layered
        tag = bokeh.script_tag(frame.resources, frame.bokeh_src)
        extra = {
            "revision": record.revision, "gap": gap(n), "values": values_on(spec, n), "boundary": boundary,
            # BokehJS, loaded when the figure's turn comes (view-heatmap.js); None: it is in the page
            "bokehjs": None if tag["inline"] else {"src": tag["src"], "integrity": tag["integrity"]},
        }
        shared = self._shared_document(fig, frame)
        if shared:  # the Bokeh document is a file of the site: the page says which, and its own numbers
            extra["doc"] = {"id": shared.id, "numbers": bokeh.sentinel_numbers(n, plot_px, boundary)}
        if long:
            extra["side"] = longinput.side_data(fig, frame.name)
            blobs = []
        else:
            weights = p.f32
            blobs = [(p.name, index, kit.pack_layer(weights[index])) for index in range(fig.num_layers)]
        # no palette: the cells and the colour bar take the Bokeh document's mapper's (2.8 KB less per page)
        data = payload(fig, frame, {p.name: set_json(p)}, layer=fig.layer, hidden=fig.hidden, extra=extra,
                       palette=False)
        return assets.render_page(
            "figure.html.jinja", css=("figure.css",), scripts=self.page_scripts(fig), inline=frame.self_contained,
            own=((shared.name, shared.script),) if shared else (),
            title=frame.title, caption=spec.caption, figure_id=spec.id, text=spec.text, pair=spec.pair,
            plot_height=plot_px, header_px=kit.HEADER_PX, bokeh=tag,
            data_json=kit.markup(kit.script_json(data)),
            bokeh_json=None if shared else kit.markup(bokeh.document_json(n, plot_px, spec.colormap, boundary,
                                                                          labels)),
            blobs=blobs, side=longinput.inline_blocks(fig) if long and frame.inline else [],
            render_version=kit.RENDER_VERSION, alternative=alternative.context(fig), lang=fig.tx.lang, _=fig.tx._)

    # ------------------------------------------------------------------------------------------- picture
    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        font = fig.spec.font or frame.font
        if fig.spec.style == "classic":
            return classic(fig, font)
        p = fig.part
        n = len(p.q.labels)
        labels = [kit.display_label(lab) for lab in p.q.labels]
        cmap = colormap(fig.spec.colormap)
        if fig.record.layered:  # one layer and head, read from the store as the page shows it
            image, future, block = longinput.picture_image(fig, int(fig.layer), fig.head)
            with mpl.rc(font, fig.tx.lang, **{"image.interpolation": "nearest"}):
                out = _single(mpl.Measure(), fig, frame.title, image, labels, cmap, future, block)
                return mpl.save_figure(out, dpi=100, facecolor="white")
        weights = dequantize(quantize(p.weights))  # exactly what the page decodes
        rows, cols, found = tiles(fig.layer, fig.head, fig.num_layers, fig.num_heads)
        future = np.triu(np.ones((n, n), dtype=bool), k=1) if p.causal else None
        with mpl.rc(font, fig.tx.lang, **{"image.interpolation": "nearest"}):
            measure = mpl.Measure()
            if len(found) == 1:
                l, h = found[0]
                out = _single(measure, fig, frame.title, head_matrix(weights[l], h), labels, cmap, future)
            else:
                out = _small_multiples(measure, fig, frame.title, weights, rows, cols, found, cmap, future)
            return mpl.save_figure(out, dpi=100, facecolor="white")


def _single(measure: mpl.Measure, fig: Prepared, title_text: str, image: np.ndarray, labels: list[str], cmap,
            future: np.ndarray | None, block: int | None = None):
    """One heatmap, its layout computed from the measured labels (one draw, no constrained layout). ``block``
    (a long input): each cell of ``image`` is the largest weight of ``block × block`` tokens, and a note says what
    is shown."""
    from matplotlib.figure import Figure

    p, spec, _ = fig.part, fig.spec, fig.tx._
    query_title, key_title, bar_title = _("Query tokens"), _("Key tokens"), _("Attention weight")
    n = len(p.q.labels)
    vmax = scale_max(image)
    grid_in = min(8.8, max(4.3, 0.22 * n))  # the grid constrained layout used to give (inches)
    grid = grid_in * mpl.PT
    cell_px = grid_in * 100 / max(n, 1)
    step = mpl.nice_step(12.5 / cell_px)
    idx = list(range(0, n, step))
    shown = [labels[i] for i in idx]
    lab_w = measure.widest(shown, 8)
    lab_h = max((measure.size(t, 8)[1] for t in set(shown)), default=8.0)
    axis_h = measure.size(query_title, 9)[1]
    s45 = math.sqrt(0.5)
    # x labels turn 45° about their top right corner (at the tick): they reach (w + h)·sin 45° down, and
    # the first one reaches w·cos 45° left of its tick
    x_drop = (lab_w + lab_h) * s45
    first_left = measure.size(shown[0], 8)[0] * s45 - grid / n / 2 if shown else 0.0
    left = mpl.EDGE_PT + axis_h + mpl.LABEL_PAD_PT + max(lab_w + mpl.TICK_PT,
                                                         first_left - axis_h - mpl.LABEL_PAD_PT)
    bottom = mpl.EDGE_PT + axis_h + mpl.LABEL_PAD_PT + x_drop + mpl.TICK_PT
    right = mpl.bar_width_pt(measure, vmax, bar_title)
    width = left + grid + right
    title = measure.wrap(title_text, 10, width - 2 * mpl.EDGE_PT)
    if block is not None:
        note = (_("{tokens} tokens, labelled every {step}; each cell shows the largest weight of {size} × {size} "
                  "tokens") if block > 1 else _("{tokens} tokens, labelled every {step}")).format(
            tokens=n, step=step, size=block)
        title += measure.wrap(note, 10, width - 2 * mpl.EDGE_PT)
    top = mpl.EDGE_PT + len(title) * measure.size("Ag", 10)[1] * 1.2 + 8.0
    height = bottom + grid + top
    out = Figure(figsize=(width / mpl.PT, height / mpl.PT), dpi=100)
    ax = out.add_axes((left / width, bottom / height, grid / width, grid / height))
    shown_image = np.ma.masked_array(image, mask=future) if future is not None else image
    ax.imshow(shown_image, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest", origin="upper",
              aspect="auto", extent=(-0.5, n - 0.5, n - 0.5, -0.5))
    if future is not None:
        _hatch_future(ax, n)
    if values_on(spec, n):
        cells = [(k, q, f"{v:.2f}", "black" if v > 0.6 * vmax else "white")
                 for q in range(n) for k in range(n) if future is None or not future[q, k]
                 for v in (float(image[q, k]),)]
        mpl.cell_values(ax, cells, max(5.0, min(8.0, 110 / n)))
    boundary = pair_boundary(p.q.segments)
    if boundary:
        ax.axhline(boundary - 0.5, color="#ff4040", lw=1.5, ls="--")
        ax.axvline(boundary - 0.5, color="#ff4040", lw=1.5, ls="--")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)
    mpl.token_ticks(out, idx, shown, n, left, bottom, grid, width, height)
    out.text((mpl.EDGE_PT + axis_h / 2) / width, (bottom + grid / 2) / height, query_title, rotation=90,
             ha="center", va="center")
    out.text((left + grid / 2) / width, (mpl.EDGE_PT + axis_h / 2) / height, key_title, ha="center",
             va="center")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    bar_h = 0.85 * grid
    mpl.colorbar(out, cmap, vmax, (left + grid + 14.0, bottom + (grid - bar_h) / 2, 12.0, bar_h), width, height,
                 bar_title)
    out.text(0.5, 1 - (mpl.EDGE_PT + 2.0) / height, "\n".join(title), ha="center", va="top", fontsize=10,
             linespacing=1.2)
    return out


def _small_multiples(measure: mpl.Measure, fig: Prepared, title_text: str, weights: np.ndarray, rows: int,
                     cols: int, found: list, cmap, future: np.ndarray | None):
    """Every tile as one image with its gaps, in one axes, on one shared scale."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    _ = fig.tx._
    n = len(fig.part.q.labels)
    both = fig.layer == "all" and fig.head == "all"

    def tile_title(kind: str, number: int) -> str:
        return (_("layer {layer}") if kind == "layer" else _("head {head}")).format(layer=number, head=number)

    tile_in = min(2.2, max(0.7, 10.0 / cols))
    cell = tile_in * mpl.PT / n  # points per cell
    title_h = measure.size(tile_title("head", 0), 8)[1]
    hgap = gap(n)
    # rows of tiles titled one by one need room for the title above each tile
    vgap = hgap if both else max(hgap, math.ceil((title_h + 5.0) / cell))
    H = rows * n + (rows - 1) * vgap
    W = cols * n + (cols - 1) * hgap
    mats = [head_matrix(weights[l], h) for l, h in found]
    vmax = scale_max(np.stack(mats))
    norm = Normalize(0.0, vmax)
    rgba = np.ones((H, W, 4), dtype=np.float32)
    rgba[..., 3] = 0.0  # the gaps: transparent over the white figure
    for i, m in enumerate(mats):
        r, c = divmod(i, cols)
        colours = cmap(norm(np.ma.masked_array(m, mask=future) if future is not None else m))
        rgba[r * (n + vgap):r * (n + vgap) + n, c * (n + hgap):c * (n + hgap) + n] = colours
    grid_w, grid_h = W * cell, H * cell
    sup_size = 9
    sup_x = _("Key tokens (each tile: first token at the left)")
    sup_y_lines = [_("Query tokens"), _("(each tile: first token at the top)")]
    if measure.size(" ".join(sup_y_lines), sup_size)[0] <= grid_h:
        sup_y_lines = [" ".join(sup_y_lines)]
    sup_h = measure.size("Ag", sup_size)[1] * 1.2
    row_label_w = title_h + 3.0 if both else 0.0
    left = mpl.EDGE_PT + sup_h * len(sup_y_lines) + 4.0 + row_label_w
    bottom = mpl.EDGE_PT + sup_h + 6.0
    right = mpl.bar_width_pt(measure, vmax, _("Attention weight"))
    width = left + grid_w + right
    title = measure.wrap(title_text, 10, width - 2 * mpl.EDGE_PT)
    top = mpl.EDGE_PT + len(title) * measure.size("Ag", 10)[1] * 1.2 + 8.0 + title_h + 3.0
    height = bottom + grid_h + top
    out = Figure(figsize=(width / mpl.PT, height / mpl.PT), dpi=100)
    ax = out.add_axes((left / width, bottom / height, grid_w / width, grid_h / height))
    ax.imshow(rgba, interpolation="nearest", origin="upper", aspect="auto", extent=(0, W, H, 0))
    ax.set_axis_off()
    for i, (l, h) in enumerate(found):
        r, c = divmod(i, cols)
        x0, y0 = c * (n + hgap), r * (n + vgap)
        above = y0 - 3.0 / cell  # 3 pt above the tile
        if not both:
            ax.text(x0 + n / 2, above, tile_title("layer", l) if fig.layer == "all" else tile_title("head", h),
                    ha="center", va="bottom", fontsize=8)
        else:
            if r == 0:
                ax.text(x0 + n / 2, above, tile_title("head", h), ha="center", va="bottom", fontsize=8)
            if c == 0:
                ax.text(x0 - (3.0 + title_h / 2) / cell, y0 + n / 2, tile_title("layer", l), ha="center", va="center",
                        rotation=90, fontsize=8)
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    out.text((left + grid_w / 2) / width, (mpl.EDGE_PT + sup_h / 2) / height, sup_x, ha="center", va="center",
             fontsize=sup_size)
    out.text((mpl.EDGE_PT + sup_h * len(sup_y_lines) / 2) / width, (bottom + grid_h / 2) / height,
             "\n".join(sup_y_lines), rotation=90, ha="center", va="center", fontsize=sup_size, linespacing=1.2)
    bar_h = 0.7 * grid_h
    mpl.colorbar(out, cmap, vmax, (left + grid_w + 14.0, bottom + (grid_h - bar_h) / 2, 12.0, bar_h), width,
                 height, _("Attention weight"))
    out.text(0.5, 1 - (mpl.EDGE_PT + 2.0) / height, "\n".join(title), ha="center", va="top", fontsize=10,
             linespacing=1.2)
    return out


def _hatch_future(ax, n: int) -> None:
    """Hatch the strict upper triangle (the future of a causal model): one staircase polygon."""
    from matplotlib.patches import Polygon

    if n > 1:
        ax.add_patch(Polygon(staircase(n), closed=True, facecolor="none", edgecolor="#9a9a9a", hatch="///",
                             linewidth=0))


def classic(fig: Prepared, font: str | None) -> bytes:
    """The classic matplotlib recipe, literally (one layer and head selection; the caption is the title).

    ``plt.figure(figsize=(8, 6)); plt.imshow(m, cmap="viridis"); plt.xticks(range(n), tokens, rotation=45,
    ha="right"); plt.yticks(range(n), tokens); plt.colorbar(label="Attention weight"); plt.title(...);
    plt.xlabel("Key tokens"); plt.ylabel("Query tokens"); plt.tight_layout()`` — written against the object API
    so that it never touches pyplot's global state. Matplotlib's defaults apply (DejaVu Sans 10 pt), with a CJK
    font as per-glyph fallback.
    """
    import matplotlib
    from matplotlib.figure import Figure

    p, _ = fig.part, fig.tx._
    layer = fig.num_layers - 1 if fig.layer == "all" else int(fig.layer)
    w = np.asarray(p.weights[layer], dtype=np.float64)  # full precision, as the recipe's own array
    m = w.max(0) if fig.head == "max" else w[fig.head] if isinstance(fig.head, int) else w.mean(0)
    labels = list(p.q.labels)
    n = len(labels)
    with matplotlib.rc_context({"font.family": mpl.font_families(font, fig.tx.lang)}):
        out = Figure(figsize=(8, 6))
        ax = out.add_subplot()
        im = ax.imshow(m, cmap=colormap(fig.spec.colormap, masked=None))
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        out.colorbar(im, ax=ax, label=_("Attention weight"))
        ax.set_title(fig.spec.caption or _("Attention heatmap"))
        ax.set_xlabel(_("Key tokens"))
        ax.set_ylabel(_("Query tokens"))
        out.tight_layout()
        return mpl.save_figure(out)  # savefig(format="png", metadata={"Software": None}): the recipe's own PNG


VIEW = Heatmap()
