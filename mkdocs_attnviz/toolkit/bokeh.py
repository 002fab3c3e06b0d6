"""The Bokeh document of the heatmap page, BokehJS itself, and how a page loads it.

The document (:func:`document_json`) carries no token text and no weights: one ``image_rgba`` glyph filled in by the
page's script, tick labels through a ``CustomJSTickFormatter`` reading the page's own JSON (Bokeh would treat
``$$…$$`` in tick overrides as TeX and pull MathJax), a colour bar, masks, cell values and pair boundaries. It
depends on four numbers only, so each process builds it once per colour map and pair/no pair and patches the
numbers in (byte-identical to a fresh build, checked on first use).
"""

from __future__ import annotations

import functools
import hashlib
import math
import pathlib
import re
from typing import Any, NamedTuple

from ..errors import AttnvizError
from .colors import palette
from .page import script_json, script_text

__all__ = ["document", "document_json", "template", "adopt", "shared_document", "SharedDocument", "sentinel_numbers", "script_tag",
           "bokehjs_text", "bokehjs_files", "TEMPLATES", "LABELS", "SENTINELS"]


#: the words of the document: x axis title, y axis title, colour bar title (English by default)
LABELS = ("Key tokens", "Query tokens", "Attention weight")


def document(n: int, plot_height: int, colormap: str, boundary: int | None,
             labels: tuple[str, str, str] = LABELS) -> dict[str, Any]:
    """The Bokeh document (``json_item``) of a heatmap page: it depends on these four values only."""
    from bokeh.embed import json_item
    from bokeh.models import (BoxZoomTool, ColorBar, ColumnDataSource, CustomJSTickFormatter, FixedTicker,
                              HoverTool, LinearColorMapper, Range1d, ResetTool, SaveTool, Span)
    from bokeh.plotting import figure
    import numpy as np  # here, not on import: a warm build publishes BokehJS and draws no document

    x_range = Range1d(0, n, bounds=(0, n), name="attnviz-xrange")
    y_range = Range1d(n, 0, bounds=(0, n), name="attnviz-yrange")  # flipped: the first token at the top
    hover = HoverTool(name="attnviz-hover", tooltips=None, point_policy="follow_mouse")
    fig = figure(name="attnviz-figure", x_range=x_range, y_range=y_range, height=plot_height,
                 sizing_mode="stretch_width", min_width=320,
                 tools=[hover, BoxZoomTool(), ResetTool(), SaveTool(filename="attention")],
                 toolbar_location="right", x_axis_label=labels[0], y_axis_label=labels[1],
                 min_border_left=8, min_border_right=8, min_border_top=10, min_border_bottom=8)
    fig.toolbar.autohide = True
    fig.toolbar.logo = None
    fig.outline_line_color = None
    fig.grid.visible = False
    fig.background_fill_color = "#ffffff"

    mapper = LinearColorMapper(name="attnviz-mapper", palette=palette(colormap),
                               low=0.0, high=1.0,
                               nan_color="rgba(0,0,0,0)")
    # The image is filled in by view-heatmap.js once the layer is decoded: the document carries no matrix. The page
    # maps the weights to colours itself (Bokeh's linear rule on the mapper's palette, low and high) and hands Bokeh
    # RGBA: Bokeh's own mapping took more than half of a switch to all the layers × heads tiles. The mapper stays the
    # colour bar's.
    source = ColumnDataSource(name="attnviz-source",
                              data={"image": [np.zeros((1, 1), dtype=np.uint32)],
                                    "x": [0.0], "y": [0.0], "dw": [float(n)], "dh": [float(n)]})
    image = fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=source, name="attnviz-image")
    hover.renderers = [image]

    # future positions of a causal model: hatched, filled in by view-heatmap.js (one staircase per tile)
    mask = ColumnDataSource(name="attnviz-mask", data={"xs": [], "ys": []})
    fig.patches(xs="xs", ys="ys", source=mask, fill_color="#d0d0d0", fill_alpha=1.0, hatch_pattern="/",
                hatch_color="#9a9a9a", hatch_scale=8.0, hatch_weight=1.0, line_color=None, name="attnviz-masked")
    # numbers in the cells (values=true, or auto up to 20 tokens), filled in by view-heatmap.js
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
            code=f"const A = window.Attnviz; return A && A.tickLabel ? A.tickLabel({which!r}, tick) : '';")
        axis.major_label_text_font_size = "11px"
        axis.axis_label_text_font_size = "12px"
        axis.axis_label_text_font_style = "normal"
        axis.major_tick_out = 3
        axis.minor_tick_out = 0
        axis.axis_line_color = None
    fig.xaxis[0].major_label_orientation = math.pi / 4

    bar = ColorBar(color_mapper=mapper, title=labels[2], title_text_font_size="11px",
                   title_text_font_style="normal", major_label_text_font_size="10px", width=12,
                   label_standoff=4, padding=6, name="attnviz-colorbar")
    fig.add_layout(bar, "right")

    item = json_item(fig)
    return _stable_ids(item)


# Building a Bokeh document and serialising it costs ~0.1 s, most of a heatmap page's render time, yet it
# depends on four values only (:func:`document`: it carries no token text and no weights). So each
# process builds it once per colour map and pair/no pair, with *sentinel* numbers in place of the token
# count, the plot height and the pair boundary, and a page gets that JSON text with its own numbers put
# back in (:func:`document_json`). The first use of each template is checked against a fresh build; values
# Bokeh would leave out as defaults (a height of 600, fewer than 2 tokens) are always built fresh.
SENTINELS = {"n": 918273, "height": 827364, "boundary": 736455}
TEMPLATES: dict[tuple[str, bool, tuple[str, str, str]], str | None] = {}  # None: patching found unsafe, build every time
_NUMBER = re.compile(r"(?<=[:\[,])(918273|827364|736455)(\.0)?(?=[,\]}])")


def _fresh(n: int, plot_height: int, colormap: str, boundary: int | None, labels: tuple[str, str, str]) -> str:
    return script_json(document(n, plot_height, colormap, boundary, labels))


def _patch(template: str, n: int, plot_height: int, boundary: int | None) -> str:
    values = {str(SENTINELS["n"]): n, str(SENTINELS["height"]): plot_height, str(SENTINELS["boundary"]): boundary}

    def put(m: re.Match) -> str:
        value = values[m.group(1)]
        return repr(float(value)) if m.group(2) else str(int(value))

    return _NUMBER.sub(put, template)


#: the numbers a template is checked with (any that :func:`_template` patches would do)
_CHECK = {"n": 7, "height": 301, "boundary": 3}


def template(colormap: str, pair: bool, labels: tuple[str, str, str]) -> tuple[tuple, str | None]:
    """The key and the template of the documents of ``colormap``, with or without a pair boundary, in these words:
    the document's JSON with sentinel numbers, checked (patched with other numbers it must equal a fresh build of
    them), or None where only a fresh build is exact. A PNG worker makes it while the build loads the model (importing
    Bokeh and building two documents take most of a second); :func:`adopt` keeps it."""
    boundary = _CHECK["boundary"] if pair else None
    made = _fresh(SENTINELS["n"], SENTINELS["height"], colormap, SENTINELS["boundary"] if pair else None, labels)
    fresh = _fresh(_CHECK["n"], _CHECK["height"], colormap, boundary, labels)
    return (colormap, pair, labels), made if _patch(made, _CHECK["n"], _CHECK["height"], boundary) == fresh else None


def adopt(key: tuple, made: str | None) -> None:
    """Keep a template :func:`template` made (in this process or another) for this process's documents."""
    TEMPLATES.setdefault(key, made)


def _template(n: int, height: int, colormap: str, boundary: int | None, labels: tuple[str, str, str]) -> str | None:
    """The template for a document of these values (:func:`template`, made on first use), or None where only a
    fresh build is exact."""
    if n < 2 or height == 600 or boundary in SENTINELS.values():
        return None
    key = (colormap, boundary is not None, labels)
    if key not in TEMPLATES:
        adopt(*template(colormap, boundary is not None, labels))
    return TEMPLATES[key]


def document_json(n: int, plot_height: int, colormap: str, boundary: int | None,
                  labels: tuple[str, str, str] = LABELS) -> str:
    """``script_json(document(...))``: the same bytes, built once per process and colour map, pair and words."""
    height = int(plot_height)
    boundary = boundary or None  # a boundary at 0 draws nothing, like no boundary
    template = _template(n, height, colormap, boundary, labels)
    if template is None:
        return _fresh(n, height, colormap, boundary, labels)
    return _patch(template, n, height, boundary)


class SharedDocument(NamedTuple):
    """A Bokeh document as a file the heatmaps of a site share (:func:`shared_document`)."""

    id: str  # a hash of the template
    script: str  # ``(Attnviz.docs = ...)[id] = template;``

    @property
    def name(self) -> str:
        return f"attnviz-doc-{self.id}.js"


def shared_document(n: int, plot_height: int, colormap: str, boundary: int | None,
                    labels: tuple[str, str, str] = LABELS) -> SharedDocument | None:
    """The document of these values as a file every such figure of a site shares: the template with its sentinel
    numbers, which the page fills with its own (:func:`sentinel_numbers`); None where only a document built for the
    page itself is exact."""
    template = _template(n, int(plot_height), colormap, boundary or None, labels)
    if template is None:
        return None
    digest = hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]
    return SharedDocument(digest, f'((window.Attnviz = window.Attnviz || {{}}).docs = window.Attnviz.docs || {{}})'
                                  f'["{digest}"] = {template};\n')


def sentinel_numbers(n: int, plot_height: int, boundary: int | None) -> dict[str, int]:
    """What a page puts in place of a shared document's sentinel numbers: its own (view-heatmap.js, ``fill``)."""
    return {str(SENTINELS[k]): v for k, v in (("n", n), ("height", plot_height), ("boundary", boundary))
            if v is not None}


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


def script_tag(resources: str, bokeh_src: str) -> dict[str, Any]:
    if resources == "local":
        if "://" in bokeh_src or bokeh_src.startswith("//"):
            raise AttnvizError(f"resources='local' needs a relative BokehJS url, not {bokeh_src!r}")
        from bokeh import __version__

        # the version in the URL: a site rebuilt with another Bokeh is not served a copy the browser kept
        return {"src": f"{bokeh_src}?v={__version__}", "integrity": None, "inline": None}
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

        return {"src": None, "integrity": None, "inline": Markup(script_text(bokehjs_text()))}
    raise AttnvizError(f"unknown resources mode {resources!r}: expected 'local', 'cdn' or 'inline'")


@functools.lru_cache(maxsize=1)
def bokehjs_text() -> str:
    """BokehJS itself, read once per process: for the pages that carry it (every figure of a page asks for it)."""
    return bokehjs_files()["bokeh.min.js"].read_text(encoding="utf-8")


def bokehjs_files() -> dict[str, pathlib.Path]:
    """Relative filename → installed BokehJS file, to copy once next to the figure pages."""
    import importlib.util

    # bokeh.util.paths.bokehjs_path() is <package>/server/static; found without importing bokeh (~40 ms, which a
    # warm build, drawing nothing, would spend only to copy this file)
    spec = importlib.util.find_spec("bokeh")
    package = pathlib.Path(spec.origin).parent if spec is not None and spec.origin else pathlib.Path("bokeh")
    path = package / "server" / "static" / "js" / "bokeh.min.js"
    if not path.is_file():
        raise AttnvizError(f"BokehJS is missing from the bokeh installation ({path})")
    return {"bokeh.min.js": path}
