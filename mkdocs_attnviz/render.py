"""Rendering: one attention figure as a standalone interactive page and as a static PNG.

What the figure shows
---------------------
A heatmap of attention weights. Each row is a *query* token (the token that attends) and each column a
*key* token (the token attended to); the cell in row ``q`` and column ``k`` is the weight query ``q``
gives key ``k``. Every row sums to 1. The first token is at the top left, like reading a table; the
y axis is titled "Query tokens", the x axis "Key tokens", and the colour bar "Attention weight".

Colours use the *viridis* palette on a scale from **0 to the largest weight of the matrix shown**
(not a fixed 0..1): attention is often spread thin, and a fixed scale would leave most figures
uniformly dark. The top of the colour bar therefore moves when another layer or head is picked;
read values from the colour bar or from the hover tooltip. The PNG uses exactly the same matrix and
scale as the page's initial view.

``head`` may be one head, ``mean`` (the average over the heads of the layer) or ``max`` (the largest
weight any head gives). With ``layer="all"`` and/or ``head="all"`` the figure shows *small
multiples*: one small heatmap per layer/head, tiled with thin gaps (layers as rows and heads as
columns when both are ``all``), all on one shared colour scale. With ``special_tokens="hide"`` the
rows and columns of special tokens ([CLS], [SEP], <s>...) are dropped and each remaining row is
renormalised to sum to 1; the figure says so in its title.

The page
--------
:func:`figure_page` returns one self-contained HTML page (meant for an ``<iframe>``): a header line
naming the model, layer and head, a *Layer* and a *Head* selector, and a Bokeh plot drawn with a
single ``image`` glyph. Picking another layer or head redraws the picture in the browser, with no
server. Hovering a cell shows the query token, the key token, the weight, the layer and the head.
The page makes no network request except for BokehJS itself (``resources="local"``: a relative
``<script src>``; ``"cdn"``: cdn.bokeh.org; ``"inline"``: BokehJS inside the page), reads no side
file, and so also works from ``file://``.

Data format inside the page
---------------------------
* ``<script type="application/json" id="attnviz-data">``: model, revision, sentence, number of
  layers/heads/tokens, ``labels`` (display text of each token), ``tokens`` (raw tokenizer pieces),
  ``special`` and ``segments`` flags, the initial ``layer``/``head`` and the ``scale`` (255).
* One ``<script type="application/octet-stream" data-layer="L">`` per layer: the weights of layer
  ``L`` as ``uint8`` values ``round(w * 255)`` in C order with shape ``(heads, n, n)``, compressed with
  zlib (level 6: about 10× faster than level 9 for 5–15 % more bytes, see benchmarks/RESULTS.md) and
  base64-encoded. The browser decodes a layer (``DecompressionStream('deflate')``)
  only when it is first needed; mean and max over heads are computed in the browser. A weight read
  back as ``q / 255`` is within ``1/510`` of the extracted value.
* ``<script type="application/json" id="attnviz-bokeh">``: the Bokeh document (``json_item``). It
  carries no token text and no matrix: tick labels come from ``attnviz-data`` through a
  ``CustomJSTickFormatter`` and the image is filled in by the page script.

All JSON inside ``<script>`` has ``<``, ``>``, ``&``, U+2028 and U+2029 escaped (:func:`script_json`);
all other text is HTML-escaped, so token or caption text can never close a tag or run script.

The PNG
-------
:func:`figure_png` draws the same initial view with matplotlib (Agg, no pyplot): viridis, same
scale, first token at the top, x labels rotated 45°, title = :func:`describe`. Text uses DejaVu Sans
with per-glyph fallback to an installed CJK font (Noto Sans CJK ...). Output is deterministic.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import io
import json
import math
import pathlib
import re
import textwrap
import zlib
from typing import Any

import numpy as np

from .analysis import dequantize, head_matrix, hide_special, quantize
from .attention import Attention
from .errors import AttnvizError
from .spec import FigureSpec, resolve_head, resolve_layer
from .toolkit.page import (HEADER_PX, asset_text, display_label, environment, pack_layer, script_json, script_text,
                           templates_dir, unpack_layer)

__all__ = ["RENDER_VERSION", "figure_page", "figure_png", "figure_svg", "save_figure", "image_format", "figure_height", "describe", "bokehjs_files",
           "templates_dir", "script_json", "pack_layer", "unpack_layer"]

#: bump whenever the page or PNG output changes; part of the render cache key
RENDER_VERSION = "3"  # 3: PNG drawn with a computed layout (no constrained layout)

VALUES_MAX_TOKENS = 20  # values="auto" writes the numbers in the cells up to this many tokens
_CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
                 "Noto Sans CJK HK", "Source Han Sans JP", "Source Han Sans SC", "IPAexGothic", "IPAGothic",
                 "TakaoGothic", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback")


# --------------------------------------------------------------------------------------------- helpers

def _shown(att: Attention, spec: FigureSpec) -> Attention:
    return hide_special(att) if spec.special_tokens == "hide" else att


def _selection(att: Attention, spec: FigureSpec) -> tuple[int | str, int | str]:
    return resolve_layer(spec.layer, att.num_layers), resolve_head(spec.head, att.num_heads)


def _tiles(layer: int | str, head: int | str, num_layers: int, num_heads: int
           ) -> tuple[int, int, list[tuple[int, int | str]]]:
    """``(rows, cols, [(layer, head), ...])`` of the small multiples (row-major). Same rule as attnviz.js."""
    if layer == "all" and head == "all":
        return num_layers, num_heads, [(l, h) for l in range(num_layers) for h in range(num_heads)]
    if layer == "all":
        tiles: list[tuple[int, int | str]] = [(l, head) for l in range(num_layers)]
    elif head == "all":
        tiles = [(int(layer), h) for h in range(num_heads)]
    else:
        return 1, 1, [(int(layer), head)]
    cols = math.ceil(math.sqrt(len(tiles)))
    return math.ceil(len(tiles) / cols), cols, tiles


def _gap(n: int) -> int:
    """Gap between small multiples, in cells. Same rule as attnviz.js."""
    return max(1, round(n / 12))


def _layer_text(layer: int | str, num_layers: int) -> str:
    if layer == "all":
        return f"all {num_layers} layers"
    return f"layer {layer} of {num_layers}" + (" (last)" if layer == num_layers - 1 else "")


def _head_text(head: int | str, num_heads: int) -> str:
    if head == "all":
        return f"all {num_heads} heads"
    if head in ("mean", "max"):
        return f"{head} of {num_heads} heads"
    return f"head {head} of {num_heads}"


def describe(att: Attention, spec: FigureSpec) -> str:
    """Plain text naming what the figure shows, e.g. ``model M, layer 5 of 6 (last), mean of 12 heads``.

    Layers and heads are numbered from 0, as in the directive's options.
    """
    layer, head = _selection(att, spec)
    analysis = att.meta.get("analysis") or {}  # rollout/flow, words, hide-raw (views.transform)
    layer_text = _layer_text(layer, att.num_layers)
    if analysis.get("layer_prefix"):
        layer_text = analysis["layer_prefix"] + ("each of " if layer == "all" else "") + layer_text
    parts = [att.meta.get("who") or f"model {att.model}", layer_text,
             analysis.get("heads") or _head_text(head, att.num_heads)]
    if spec.special_tokens == "hide" and any(att.special):
        parts.append("special tokens hidden, rows renormalised")
    parts += analysis.get("notes", [])
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------- matrices

def _dequantized_layers(att: Attention) -> np.ndarray:
    """The weights exactly as the page will decode them (``round(w*255)/255``)."""
    return dequantize(quantize(att.weights))


def _view_matrix(weights: np.ndarray, layer: int | str, head: int | str) -> tuple[np.ndarray, list]:
    """The image of the view (NaN in the gaps of small multiples) and its tiles."""
    num_layers, num_heads, n = weights.shape[0], weights.shape[1], weights.shape[2]
    rows, cols, tiles = _tiles(layer, head, num_layers, num_heads)
    if len(tiles) == 1:
        l, h = tiles[0]
        return head_matrix(weights[l], h), tiles
    g = _gap(n)
    image = np.full((rows * n + (rows - 1) * g, cols * n + (cols - 1) * g), np.nan, dtype=np.float32)
    for i, (l, h) in enumerate(tiles):
        r, c = divmod(i, cols)
        image[r * (n + g):r * (n + g) + n, c * (n + g):c * (n + g) + n] = head_matrix(weights[l], h)
    return image, tiles


def _scale_max(matrix: np.ndarray) -> float:
    """Top of the colour scale: the largest weight shown (1 if everything is 0)."""
    finite = matrix[np.isfinite(matrix)]
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


# ------------------------------------------------------------------------------------------ page size

def _plot_height(att: Attention) -> int:
    n = att.num_tokens
    grid = min(620, max(260, 26 * n))
    longest = max((len(display_label(lab)) for lab in att.labels), default=1)
    x_axis = 40 + int(longest * 7 * 0.72)  # 45° labels + axis title
    return grid + x_axis + 14


def figure_height(att: Attention, spec: FigureSpec) -> int:
    """CSS pixels the ``<iframe>`` needs for :func:`figure_page` (``spec.height`` wins when set)."""
    if spec.height:
        return int(spec.height)
    return HEADER_PX + _plot_height(_shown(att, spec)) + 6


# ----------------------------------------------------------------------------------------------- page

def palette(name: str = "viridis") -> list[str]:
    """256 colours of a colour map (Bokeh's own Viridis256 for viridis; matplotlib's samples otherwise)."""
    from .spec import COLORMAPS

    if name == "viridis":
        from bokeh.palettes import Viridis256

        return list(Viridis256)
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps[COLORMAPS.get(name, name)]
    return [to_hex(cmap(i / 255)) for i in range(256)]


def _values_on(spec: FigureSpec, n: int) -> bool:
    """Numbers in the cells: ``values="true"``, or ``auto`` up to :data:`VALUES_MAX_TOKENS` tokens."""
    return spec.values == "true" or (spec.values == "auto" and n <= VALUES_MAX_TOKENS)


def _pair_boundary(att: Attention) -> int | None:
    """Index of the first token of the pair sentence (None without a pair)."""
    return next((i for i, s in enumerate(att.segments) if s == 1), None)


def _bokeh_item(att: Attention, plot_height: int, spec: FigureSpec | None = None) -> dict[str, Any]:
    return _bokeh_document(att.num_tokens, plot_height, spec.colormap if spec else "viridis", _pair_boundary(att))


def _bokeh_document(n: int, plot_height: int, colormap: str, boundary: int | None) -> dict[str, Any]:
    """The Bokeh document (``json_item``) of a heatmap page: it depends on these four values only."""
    from bokeh.embed import json_item
    from bokeh.models import (BoxZoomTool, ColorBar, ColumnDataSource, CustomJSTickFormatter, FixedTicker,
                              HoverTool, LinearColorMapper, Range1d, ResetTool, SaveTool, Span)
    from bokeh.plotting import figure

    x_range = Range1d(0, n, bounds=(0, n), name="attnviz-xrange")
    y_range = Range1d(n, 0, bounds=(0, n), name="attnviz-yrange")  # flipped: the first token at the top
    hover = HoverTool(name="attnviz-hover", tooltips=None, point_policy="follow_mouse")
    fig = figure(name="attnviz-figure", x_range=x_range, y_range=y_range, height=plot_height,
                 sizing_mode="stretch_width", min_width=320,
                 tools=[hover, BoxZoomTool(), ResetTool(), SaveTool(filename="attention")],
                 toolbar_location="right", x_axis_label="Key tokens", y_axis_label="Query tokens",
                 min_border_left=8, min_border_right=8, min_border_top=10, min_border_bottom=8)
    fig.toolbar.autohide = True
    fig.toolbar.logo = None
    fig.outline_line_color = None
    fig.grid.visible = False
    fig.background_fill_color = "#ffffff"

    mapper = LinearColorMapper(name="attnviz-mapper", palette=palette(colormap),
                               low=0.0, high=1.0,
                               nan_color="rgba(0,0,0,0)")
    # The image is filled in by attnviz.js once the layer is decoded: the document carries no matrix.
    source = ColumnDataSource(name="attnviz-source",
                              data={"image": [np.full((1, 1), np.nan, dtype=np.float32)],
                                    "x": [0.0], "y": [0.0], "dw": [float(n)], "dh": [float(n)]})
    image = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper,
                      name="attnviz-image")
    hover.renderers = [image]

    # future positions of a causal model: hatched, filled in by attnviz.js (one staircase per tile)
    mask = ColumnDataSource(name="attnviz-mask", data={"xs": [], "ys": []})
    fig.patches(xs="xs", ys="ys", source=mask, fill_color="#d0d0d0", fill_alpha=1.0, hatch_pattern="/",
                hatch_color="#9a9a9a", hatch_scale=8.0, hatch_weight=1.0, line_color=None, name="attnviz-masked")
    # numbers in the cells (values=true, or auto up to 20 tokens), filled in by attnviz.js
    values = ColumnDataSource(name="attnviz-values", data={"x": [], "y": [], "text": [], "color": []})
    fig.text(x="x", y="y", text="text", source=values, text_color="color", text_font_size="9px",
             text_align="center", text_baseline="middle", name="attnviz-value-labels")
    # the boundary between the two sentences of a pair
    if boundary:
        for dim, name in (("height", "attnviz-boundary-x"), ("width", "attnviz-boundary-y")):
            fig.add_layout(Span(location=boundary, dimension=dim, line_color="#ff4040", line_width=2,
                                line_dash="dashed", name=name))

    tiles = ColumnDataSource(name="attnviz-tiles", data={"x": [], "y": [], "text": []})
    fig.text(x="x", y="y", text="text", source=tiles, text_color="#ffffff", text_font_size="10px",
             text_align="left", text_baseline="top", x_offset=2, y_offset=2,
             background_fill_color="#000000", background_fill_alpha=0.45, name="attnviz-tile-labels")

    for axis, which in ((fig.xaxis[0], "x"), (fig.yaxis[0], "y")):
        axis.name = f"attnviz-{which}axis"
        axis.ticker = FixedTicker(ticks=[], minor_ticks=[], name=f"attnviz-{which}ticker")
        # tick labels come from the page's token data (never from the Bokeh document)
        axis.formatter = CustomJSTickFormatter(
            code=f"const f = window.attnvizTickLabel; return f ? f({which!r}, tick) : '';")
        axis.major_label_text_font_size = "11px"
        axis.axis_label_text_font_size = "12px"
        axis.axis_label_text_font_style = "normal"
        axis.major_tick_out = 3
        axis.minor_tick_out = 0
        axis.axis_line_color = None
    fig.xaxis[0].major_label_orientation = math.pi / 4

    bar = ColorBar(color_mapper=mapper, title="Attention weight", title_text_font_size="11px",
                   title_text_font_style="normal", major_label_text_font_size="10px", width=12,
                   label_standoff=4, padding=6, name="attnviz-colorbar")
    fig.add_layout(bar, "right")

    item = json_item(fig)
    return _stable_ids(item)


# Building a Bokeh document and serialising it costs ~0.1 s, most of a heatmap page's render time, yet it
# depends on four values only (:func:`_bokeh_document`: it carries no token text and no weights). So each
# process builds it once per colour map and pair/no pair, with *sentinel* numbers in place of the token
# count, the plot height and the pair boundary, and a page gets that JSON text with its own numbers put
# back in (:func:`_bokeh_json`). The first use of each template is checked against a fresh build; values
# Bokeh would leave out as defaults (a height of 600, fewer than 2 tokens) are always built fresh.
_SENTINELS = {"n": 918273, "height": 827364, "boundary": 736455}
_BOKEH_TEMPLATES: dict[tuple[str, bool], str | None] = {}  # None: patching found unsafe, build every time
_BOKEH_NUMBER = re.compile(r"(?<=[:\[,])(918273|827364|736455)(\.0)?(?=[,\]}])")


def _bokeh_fresh(n: int, plot_height: int, colormap: str, boundary: int | None) -> str:
    return script_json(_bokeh_document(n, plot_height, colormap, boundary))


def _bokeh_patch(template: str, n: int, plot_height: int, boundary: int | None) -> str:
    values = {str(_SENTINELS["n"]): n, str(_SENTINELS["height"]): plot_height, str(_SENTINELS["boundary"]): boundary}

    def put(m: re.Match) -> str:
        value = values[m.group(1)]
        return repr(float(value)) if m.group(2) else str(int(value))

    return _BOKEH_NUMBER.sub(put, template)


def _bokeh_json(att: Attention, plot_height: int, spec: FigureSpec | None = None) -> str:
    """``script_json(_bokeh_item(att, plot_height, spec))``: the same bytes, built once per process."""
    n, height = att.num_tokens, int(plot_height)
    colormap = spec.colormap if spec else "viridis"
    boundary = _pair_boundary(att) or None  # a boundary at 0 draws nothing, like no boundary
    if n < 2 or height == 600 or boundary in _SENTINELS.values():
        return _bokeh_fresh(n, height, colormap, boundary)
    key = (colormap, boundary is not None)
    if key not in _BOKEH_TEMPLATES:
        template = _bokeh_fresh(_SENTINELS["n"], _SENTINELS["height"], colormap,
                                _SENTINELS["boundary"] if boundary is not None else None)
        fresh = _bokeh_fresh(n, height, colormap, boundary)
        _BOKEH_TEMPLATES[key] = template if _bokeh_patch(template, n, height, boundary) == fresh else None
        return fresh
    template = _BOKEH_TEMPLATES[key]
    if template is None:
        return _bokeh_fresh(n, height, colormap, boundary)
    return _bokeh_patch(template, n, height, boundary)


def _stable_ids(item: dict[str, Any]) -> dict[str, Any]:
    """Renumber Bokeh's process-wide model ids in order of appearance, so the same figure gives the same page."""
    mapping: dict[str, str] = {}

    def rename(value: str) -> str:
        if value not in mapping:
            mapping[value] = f"a{len(mapping) + 1}"
        return mapping[value]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (rename(v) if k == "id" and isinstance(v, str) else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(item)
    if isinstance(out.get("root_id"), str):
        out["root_id"] = rename(out["root_id"])
    return out


def _bokeh_script_tag(resources: str, bokeh_src: str) -> dict[str, Any]:
    if resources == "local":
        if "://" in bokeh_src or bokeh_src.startswith("//"):
            raise AttnvizError(f"resources='local' needs a relative BokehJS url, not {bokeh_src!r}")
        return {"src": bokeh_src, "integrity": None, "inline": None}
    if resources == "cdn":
        from bokeh.resources import Resources

        res = Resources(mode="cdn", components=["bokeh"])
        url = res.js_files[0]
        integrity = None
        try:
            digest = res.hashes.get(url)
            integrity = f"sha384-{digest}" if digest else None
        except Exception:  # no published hash (dev build): load without SRI
            integrity = None
        return {"src": url, "integrity": integrity, "inline": None}
    if resources == "inline":
        from markupsafe import Markup

        path = bokehjs_files()["bokeh.min.js"]
        return {"src": None, "integrity": None, "inline": Markup(script_text(path.read_text(encoding="utf-8")))}
    raise AttnvizError(f"unknown resources mode {resources!r}: expected 'local', 'cdn' or 'inline'")


def figure_page(att: Attention, spec: FigureSpec, *, resources: str = "local",
                bokeh_src: str = "bokeh.min.js") -> str:
    """The standalone HTML page of one figure (see the module docstring for what it holds)."""
    from markupsafe import Markup

    layer, head = _selection(att, spec)
    shown = _shown(att, spec)
    num_layers, num_heads, n = shown.num_layers, shown.num_heads, shown.num_tokens
    hidden = spec.special_tokens == "hide" and any(att.special)
    weights = np.asarray(shown.weights, dtype=np.float32)

    plot_height = (max(120, int(spec.height) - HEADER_PX - 6) if spec.height else _plot_height(shown))
    data = {
        "format": 1,
        "model": shown.model,
        "revision": shown.revision,
        "text": spec.text,
        "pair": spec.pair,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "n": n,
        "labels": list(shown.labels),
        "ticks": [display_label(lab) for lab in shown.labels],
        "tokens": list(shown.tokens),
        "special": [bool(s) for s in shown.special],
        "segments": [int(s) for s in shown.segments],
        "causal": bool(shown.causal),
        "hidden": hidden,
        "layer": layer,
        "head": head,
        "gap": _gap(n),
        "scale": 255,
        "who": shown.meta.get("who") or f"model {shown.model}",
        "values": _values_on(spec, n),
        "boundary": _pair_boundary(shown),
        "theme": spec.theme,
        "view": "heatmap",
        "analysis": shown.meta.get("analysis"),  # what views.transform did (for the title)
    }
    layers = [(index, pack_layer(weights[index])) for index in range(num_layers)]
    title = describe(att, spec)
    page = environment().get_template("figure.html.jinja").render(
        title=title,
        caption=spec.caption,
        figure_id=spec.id,
        text=spec.text,
        pair=spec.pair,
        layer=layer,
        head=head,
        num_layers=num_layers,
        num_heads=num_heads,
        plot_height=plot_height,
        header_px=HEADER_PX,
        bokeh=_bokeh_script_tag(resources, bokeh_src),
        css=Markup(asset_text("figure.css").replace("</", "<\\/")),
        js=Markup(script_text(asset_text("attnviz.js"))),
        common_js=Markup(script_text(asset_text("attnviz-common.js"))),
        theme=spec.theme,
        data_json=Markup(script_json(data)),
        bokeh_json=Markup(_bokeh_json(shown, plot_height, spec)),
        layers=layers,
        render_version=RENDER_VERSION,
    )
    return page


# ------------------------------------------------------------------------------------------------ PNG

def _font_families(font: str | None) -> list[str]:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    families = [font] if font else []
    families.append("DejaVu Sans")
    cjk = next((name for name in _CJK_FAMILIES if name in installed), None)
    if cjk:
        families.append(cjk)
    seen: list[str] = []
    for name in families:
        if name not in seen:
            seen.append(name)
    return seen


def _nice_step(needed: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50... that is at least ``needed``. Same rule as attnviz.js."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if m * base >= needed:
                return m * base
        base *= 10


_IMAGE_FORMAT: contextvars.ContextVar[str] = contextvars.ContextVar("attnviz_image_format", default="png")


@contextlib.contextmanager
def image_format(fmt: str):
    """Within the block, :func:`save_figure` writes ``fmt`` (``png`` or ``svg``) unless told otherwise: how
    :func:`figure_svg` gets an SVG out of every drawing function without threading a parameter through."""
    token = _IMAGE_FORMAT.set(fmt)
    try:
        yield
    finally:
        _IMAGE_FORMAT.reset(token)


def save_figure(fig, fmt: str | None = None, **savefig_kwargs: Any) -> bytes:
    """Every figure file is written here: ``png`` (Agg) or ``svg``, with deterministic bytes.

    ``fmt=None``: the format of the enclosing :func:`image_format` block (``png`` outside any).
    PNG: no ``Software`` text chunk. SVG: no date, ids salted with a fixed string (``svg.hashsalt``), and
    text drawn as paths (``svg.fonttype: path``), so CJK labels show without the fonts installed."""
    import matplotlib

    fmt = fmt or _IMAGE_FORMAT.get()
    buf = io.BytesIO()
    if fmt == "png":
        fig.savefig(buf, format="png", metadata={"Software": None}, **savefig_kwargs)
    elif fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "attnviz", "svg.fonttype": "path", "svg.image_inline": True}):
            fig.savefig(buf, format="svg", metadata={"Date": None}, **savefig_kwargs)
    else:
        raise AttnvizError(f"unknown image format {fmt!r}: expected 'png' or 'svg'")
    return buf.getvalue()


def figure_png(att: Attention, spec: FigureSpec, *, font: str | None = None) -> bytes:
    """The figure's initial view as a PNG (matplotlib, deterministic), for the static fallback.

    Inside an ``image_format("svg")`` block it is an SVG: :func:`figure_svg`."""
    return figure_image(att, spec, font=font)


def figure_svg(att: Attention, spec: FigureSpec, *, font: str | None = None) -> bytes:
    """The figure's static picture as SVG (text as paths; deterministic), for any ``view``.

    Dispatches through :func:`mkdocs_attnviz.views.figure_svg` (the PNG fallback's picture, every view),
    so it takes the record as extracted, like ``views.figure_png``."""
    from . import views

    return views.figure_svg(att, spec, font=font)


class _Measure:
    """Text extents in points, measured with Agg's own font machinery (same fonts and fallbacks as drawing)."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg

        self.renderer = RendererAgg(1, 1, 100)  # the PNG's dpi: hinting makes widths depend on it
        self._props: dict[float, Any] = {}

    def size(self, text: str, fontsize: float) -> tuple[float, float]:
        """``(width, height)`` of one line of ``text`` in points (height includes the descent)."""
        from matplotlib.font_manager import FontProperties

        prop = self._props.get(fontsize)
        if prop is None:
            prop = self._props[fontsize] = FontProperties(size=fontsize)  # family from the rc context
        if not text:
            return 0.0, 0.0
        w, h, _d = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
        return float(w) * 0.72, float(h) * 0.72  # pixels at 100 dpi → points

    def widest(self, texts: list[str], fontsize: float) -> float:
        return max((self.size(t, fontsize)[0] for t in set(texts)), default=0.0)

    def wrap(self, text: str, fontsize: float, width_pt: float, chars: int = 90) -> list[str]:
        """``text`` wrapped at spaces into lines at most ``width_pt`` wide (and at most ``chars`` long)."""
        while True:
            lines = textwrap.wrap(text, chars) or [""]
            if chars <= 20 or max(self.size(line, fontsize)[0] for line in lines) <= width_pt:
                return lines
            chars -= 5


_PT = 72.0  # points per inch
_TICK_PT = 3.5 + 3.5  # matplotlib's default tick length + tick label pad
_EDGE_PT = 6.0  # white border around everything
_LABEL_PAD_PT = 4.0  # axis label to tick labels (matplotlib's axes.labelpad)


def figure_image(att: Attention, spec: FigureSpec, *, font: str | None = None, fmt: str | None = None) -> bytes:
    """The heatmap's initial view drawn with matplotlib, as ``png`` or ``svg`` bytes (see :func:`save_figure`).

    The layout is computed, not searched for: the margins come from the measured size of the labels (no
    constrained or tight layout, which measure every label several times and draw the figure twice), so
    a PNG costs one draw. Small multiples are one image of the tiles with their gaps, in one axes.
    """
    import matplotlib

    from .spec import COLORMAPS

    layer, head = _selection(att, spec)
    shown = _shown(att, spec)
    n = shown.num_tokens
    weights = _dequantized_layers(shown)
    rows, cols, tiles = _tiles(layer, head, shown.num_layers, shown.num_heads)
    image, _ = _view_matrix(weights, layer, head) if len(tiles) == 1 else (None, tiles)
    labels = [display_label(lab) for lab in shown.labels]
    rc = {"font.family": _font_families(font), "font.size": 9, "axes.titlesize": 10,
          "svg.hashsalt": "attnviz", "image.interpolation": "nearest"}
    cmap = matplotlib.colormaps[COLORMAPS.get(spec.colormap, "viridis")].with_extremes(bad="#d0d0d0")
    future = np.triu(np.ones((n, n), dtype=bool), k=1) if shown.causal else None

    with matplotlib.rc_context(rc):
        measure = _Measure()
        if len(tiles) == 1:
            fig = _single_figure(measure, att, spec, shown, image, labels, cmap, future)
        else:
            fig = _tiles_figure(measure, att, spec, shown, weights, layer, head, rows, cols, tiles, cmap, future)
        return save_figure(fig, fmt, dpi=100, facecolor="white")


def _colorbar(fig, measure: _Measure, cmap, vmax: float, rect_pt: tuple[float, float, float, float],
              fig_w_pt: float, fig_h_pt: float) -> None:
    """A colour bar (0 to ``vmax``) in ``rect_pt`` = (x, y, width, height) points from the bottom left."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    x, y, w, h = rect_pt
    cax = fig.add_axes((x / fig_w_pt, y / fig_h_pt, w / fig_w_pt, h / fig_h_pt))
    bar = fig.colorbar(ScalarMappable(Normalize(0.0, vmax), cmap), cax=cax)
    bar.set_label("Attention weight")


def _bar_width_pt(measure: _Measure, vmax: float) -> float:
    """Room right of the heatmap for the colour bar: gap, bar, ticks, tick labels, its title."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    # the colour bar's own locator and formatter, run on the scale alone, to measure its tick labels
    ticks = [t for t in MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, vmax)
             if 0.0 <= t <= vmax]
    fmt = ScalarFormatter()
    fmt.create_dummy_axis()
    fmt.axis.set_view_interval(0.0, vmax)
    fmt.axis.set_data_interval(0.0, vmax)
    texts = fmt.format_ticks(ticks) if ticks else ["0.0"]
    label_w = max(measure.widest(texts, 9), measure.size("0.000", 9)[0])
    return 14.0 + 12.0 + _TICK_PT + label_w + _LABEL_PAD_PT + measure.size("Attention weight", 9)[1] + _EDGE_PT


def _single_figure(measure, att, spec, shown, image, labels, cmap, future):
    from matplotlib.figure import Figure

    n = shown.num_tokens
    vmax = _scale_max(image)
    grid_in = min(8.8, max(4.3, 0.22 * n))  # the grid constrained layout used to give (inches)
    grid = grid_in * _PT
    cell_px = grid_in * 100 / max(n, 1)
    step = _nice_step(12.5 / cell_px)
    idx = list(range(0, n, step))
    shown_labels = [labels[i] for i in idx]
    lab_w = measure.widest(shown_labels, 8)
    lab_h = max((measure.size(t, 8)[1] for t in set(shown_labels)), default=8.0)
    axis_h = measure.size("Query tokens", 9)[1]
    s45 = math.sqrt(0.5)
    # x labels turn 45° about their top right corner (at the tick): they reach (w + h)·sin 45° down, and
    # the first one reaches w·cos 45° left of its tick
    x_drop = (lab_w + lab_h) * s45
    first_left = measure.size(shown_labels[0], 8)[0] * s45 - grid / n / 2 if shown_labels else 0.0
    left = _EDGE_PT + axis_h + _LABEL_PAD_PT + max(lab_w + _TICK_PT, first_left - axis_h - _LABEL_PAD_PT)
    bottom = _EDGE_PT + axis_h + _LABEL_PAD_PT + x_drop + _TICK_PT
    right = _bar_width_pt(measure, vmax)
    width = left + grid + right
    title = measure.wrap(describe(att, spec), 10, width - 2 * _EDGE_PT)
    title_h = len(title) * measure.size("Ag", 10)[1] * 1.2
    top = _EDGE_PT + title_h + 8.0
    height = bottom + grid + top
    fig = Figure(figsize=(width / _PT, height / _PT), dpi=100)
    ax = fig.add_axes((left / width, bottom / height, grid / width, grid / height))
    shown_image = np.ma.masked_array(image, mask=future) if future is not None else image
    ax.imshow(shown_image, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest", origin="upper",
              aspect="auto", extent=(-0.5, n - 0.5, n - 0.5, -0.5))
    if future is not None:
        _hatch_future(ax, n)
    if _values_on(spec, n):
        size = max(5.0, min(8.0, 110 / n))
        for q in range(n):
            for k in range(n):
                if future is not None and future[q, k]:
                    continue
                v = float(image[q, k])
                ax.text(k, q, f"{v:.2f}", ha="center", va="center", fontsize=size,
                        color="black" if v > 0.6 * vmax else "white")
    boundary = _pair_boundary(shown)
    if boundary:
        ax.axhline(boundary - 0.5, color="#ff4040", lw=1.5, ls="--")
        ax.axvline(boundary - 0.5, color="#ff4040", lw=1.5, ls="--")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    # Ticks, tick labels and axis titles at computed places, as plain lines and texts: matplotlib's axis
    # machinery (a Tick of five artists per label, every label measured again to place the axis title)
    # cost more than the rest of the figure.
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)
    _token_ticks(fig, idx, shown_labels, n, left, bottom, grid, width, height)
    fig.text((_EDGE_PT + axis_h / 2) / width, (bottom + grid / 2) / height, "Query tokens", rotation=90,
             ha="center", va="center")
    fig.text((left + grid / 2) / width, (_EDGE_PT + axis_h / 2) / height, "Key tokens", ha="center", va="center")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    bar_h = 0.85 * grid
    _colorbar(fig, measure, cmap, vmax, (left + grid + 14.0, bottom + (grid - bar_h) / 2, 12.0, bar_h), width, height)
    fig.text(0.5, 1 - (_EDGE_PT + 2.0) / height, "\n".join(title), ha="center", va="top", fontsize=10,
             linespacing=1.2)
    return fig


def _token_ticks(fig, idx: list[int], labels: list[str], n: int, left: float, bottom: float, grid: float,
                 width: float, height: float) -> None:
    """Tick marks and token labels below (rotated 45°, right end at the tick) and left of the grid.

    Positions are in points from the figure's bottom left; what matplotlib's own ticks would draw
    (3.5 pt marks, 3.5 pt pad, 8 pt labels)."""
    from matplotlib.collections import LineCollection

    cell = grid / n
    segs = []
    for i, label in zip(idx, labels):
        x = left + (i + 0.5) * cell
        y = bottom + grid - (i + 0.5) * cell
        segs.append([(x / width, bottom / height), (x / width, (bottom - 3.5) / height)])
        segs.append([(left / width, y / height), ((left - 3.5) / width, y / height)])
        fig.text(x / width, (bottom - _TICK_PT) / height, label, rotation=45, ha="right", va="top",
                 rotation_mode="anchor", fontsize=8)
        fig.text((left - _TICK_PT) / width, y / height, label, ha="right", va="center", fontsize=8)
    fig.add_artist(LineCollection(segs, colors="black", linewidths=0.8, transform=fig.transFigure))


def _tiles_figure(measure, att, spec, shown, weights, layer, head, rows, cols, tiles, cmap, future):
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n = shown.num_tokens
    both = layer == "all" and head == "all"
    tile_in = min(2.2, max(0.7, 10.0 / cols))
    cell = tile_in * _PT / n  # points per cell
    title_h = measure.size("head 0", 8)[1]
    hgap = max(1, round(n / 12))
    # rows of tiles titled one by one need room for the title above each tile
    vgap = hgap if both else max(hgap, math.ceil((title_h + 5.0) / cell))
    H = rows * n + (rows - 1) * vgap
    W = cols * n + (cols - 1) * hgap
    mats = [head_matrix(weights[l], h) for l, h in tiles]
    vmax = _scale_max(np.stack(mats))
    norm = Normalize(0.0, vmax)
    rgba = np.ones((H, W, 4), dtype=np.float32)
    rgba[..., 3] = 0.0  # the gaps: transparent over the white figure
    for i, m in enumerate(mats):
        r, c = divmod(i, cols)
        colours = cmap(norm(np.ma.masked_array(m, mask=future) if future is not None else m))
        rgba[r * (n + vgap):r * (n + vgap) + n, c * (n + hgap):c * (n + hgap) + n] = colours
    grid_w, grid_h = W * cell, H * cell
    sup_size = 9
    sup_x = "Key tokens (each tile: first token at the left)"
    sup_y = "Query tokens (each tile: first token at the top)"
    sup_y_lines = [sup_y] if measure.size(sup_y, sup_size)[0] <= grid_h else ["Query tokens", "(each tile: first token at the top)"]
    sup_h = measure.size("Ag", sup_size)[1] * 1.2
    row_label_w = title_h + 3.0 if both else 0.0
    left = _EDGE_PT + sup_h * len(sup_y_lines) + 4.0 + row_label_w
    bottom = _EDGE_PT + sup_h + 6.0
    right = _bar_width_pt(measure, vmax)
    width = left + grid_w + right
    title = measure.wrap(describe(att, spec), 10, width - 2 * _EDGE_PT)
    top = _EDGE_PT + len(title) * measure.size("Ag", 10)[1] * 1.2 + 8.0 + title_h + 3.0
    height = bottom + grid_h + top
    fig = Figure(figsize=(width / _PT, height / _PT), dpi=100)
    ax = fig.add_axes((left / width, bottom / height, grid_w / width, grid_h / height))
    ax.imshow(rgba, interpolation="nearest", origin="upper", aspect="auto", extent=(0, W, H, 0))
    ax.set_axis_off()
    for i, (l, h) in enumerate(tiles):
        r, c = divmod(i, cols)
        x0, y0 = c * (n + hgap), r * (n + vgap)
        above = y0 - 3.0 / cell  # 3 pt above the tile
        if not both:
            ax.text(x0 + n / 2, above, f"layer {l}" if layer == "all" else f"head {h}", ha="center", va="bottom",
                    fontsize=8)
        else:
            if r == 0:
                ax.text(x0 + n / 2, above, f"head {h}", ha="center", va="bottom", fontsize=8)
            if c == 0:
                ax.text(x0 - (3.0 + title_h / 2) / cell, y0 + n / 2, f"layer {l}", ha="center", va="center",
                        rotation=90, fontsize=8)
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    fig.text((left + grid_w / 2) / width, (_EDGE_PT + sup_h / 2) / height, sup_x, ha="center", va="center",
             fontsize=sup_size)
    fig.text((_EDGE_PT + sup_h * len(sup_y_lines) / 2) / width, (bottom + grid_h / 2) / height,
             "\n".join(sup_y_lines), rotation=90, ha="center", va="center", fontsize=sup_size, linespacing=1.2)
    bar_h = 0.7 * grid_h
    _colorbar(fig, measure, cmap, vmax, (left + grid_w + 14.0, bottom + (grid_h - bar_h) / 2, 12.0, bar_h),
              width, height)
    fig.text(0.5, 1 - (_EDGE_PT + 2.0) / height, "\n".join(title), ha="center", va="top", fontsize=10,
             linespacing=1.2)
    return fig


def _hatch_future(ax, n: int) -> None:
    """Hatch the strict upper triangle (the future of a causal model): one staircase polygon."""
    from matplotlib.patches import Polygon

    if n > 1:
        ax.add_patch(Polygon(_staircase(n), closed=True, facecolor="none", edgecolor="#9a9a9a", hatch="///",
                             linewidth=0))


def _staircase(n: int) -> list[tuple[float, float]]:
    """Outline of the cells with key > query, in imshow coordinates (cell centres at integers).

    Same shape as the page's mask (attnviz.js ``staircase``)."""
    pts = [(0.5, -0.5), (n - 0.5, -0.5)]
    for q in range(n - 2, -1, -1):
        pts += [(q + 1.5, q + 0.5), (q + 0.5, q + 0.5)]
    return pts


# ----------------------------------------------------------------------------------------- resources

def bokehjs_files() -> dict[str, pathlib.Path]:
    """Relative filename → installed BokehJS file, to copy once next to the figure pages."""
    from bokeh.util.paths import bokehjs_path

    path = pathlib.Path(bokehjs_path()) / "js" / "bokeh.min.js"
    if not path.is_file():
        raise AttnvizError(f"BokehJS is missing from the bokeh installation ({path})")
    return {"bokeh.min.js": path}
