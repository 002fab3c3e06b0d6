"""The matplotlib side of every static picture: fonts, rc, text measuring, layout helpers and saving.

Every PNG/SVG is drawn with the object API (``matplotlib.figure.Figure``, Agg; pyplot is never imported) inside
:func:`rc` and written by :func:`save_figure`, so the bytes are deterministic. Text uses the ``font`` setting (if
any), then DejaVu Sans, with per-glyph fallback to an installed CJK font and, for other scripts, to any installed
font that has the characters (:mod:`.fonts`); characters no font has are collected (:func:`missing_glyphs`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import math
import textwrap
import unicodedata
import warnings
from typing import Any

from ..errors import AttnvizError
from . import fonts

__all__ = ["font_families", "rc", "Measure", "save_figure", "image_format", "missing_glyphs", "nice_step", "colorbar", "bar_width_pt",
           "token_ticks", "cell_values", "stamp", "wrap_title", "wrap_lines", "fit_title", "legend_columns", "PT", "TICK_PT", "EDGE_PT", "LABEL_PAD_PT"]

PT = 72.0  # points per inch
TICK_PT = 3.5 + 3.5  # matplotlib's default tick length + tick label pad
EDGE_PT = 6.0  # white border around everything
LABEL_PAD_PT = 4.0  # axis label to tick labels (matplotlib's axes.labelpad)

def font_families(font: str | None, lang: str | None = None) -> list[str]:
    """The font families of a picture (:func:`mkdocs_attnviz.toolkit.fonts.families`)."""
    return fonts.families(font, lang)


def rc(font: str | None, lang: str | None = None, **extra: Any):
    """The rc context every picture is drawn in (fonts for ``lang``, sizes, SVG salt); ``extra`` adds keys."""
    import matplotlib

    return matplotlib.rc_context({"font.family": font_families(font, lang), "font.size": 9, "axes.titlesize": 10,
                                  "svg.hashsalt": "attnviz", **extra})


def nice_step(needed: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50... that is at least ``needed``. Same rule as the pages' scripts."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if m * base >= needed:
                return m * base
        base *= 10


_IMAGE_FORMAT: contextvars.ContextVar[str] = contextvars.ContextVar("attnviz_image_format", default="png")
_MISSING: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("attnviz_missing_glyphs", default=None)


@contextlib.contextmanager
def missing_glyphs():
    """Collect, in the set this yields, the characters the figures saved within the block could not draw (no
    installed font has them)."""
    found: set[str] = set()
    token = _MISSING.set(found)
    try:
        yield found
    finally:
        _MISSING.reset(token)


@contextlib.contextmanager
def image_format(fmt: str):
    """Within the block, :func:`save_figure` writes ``fmt`` (``png`` or ``svg``) unless told otherwise: how an SVG
    comes out of every view's drawing code without threading a parameter through."""
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
    missing = fonts.complete(fig)
    collector = _MISSING.get()
    if collector is not None:
        collector.update(missing)
    buf = io.BytesIO()
    if fmt not in ("png", "svg"):
        raise AttnvizError(f"unknown image format {fmt!r}: expected 'png' or 'svg'")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)  # reported above
        if fmt == "png":
            # zlib level 3: a third faster than the default 6 for 4 % more bytes (a fallback most readers never load)
            fig.savefig(buf, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 3},
                        **savefig_kwargs)
        else:
            with matplotlib.rc_context({"svg.hashsalt": "attnviz", "svg.fonttype": "path",
                                        "svg.image_inline": True}):
                fig.savefig(buf, format="svg", metadata={"Date": None}, **savefig_kwargs)
    return buf.getvalue()


#: sizes measured in this process, by (families, font size, text): the same tokens, titles and axis names come back
#: figure after figure, and each measure lays the text out with HarfBuzz (a third of a millisecond)
_SIZES: dict[tuple[tuple[str, ...], float, str], tuple[float, float]] = {}
_SIZES_MOST = 20_000


class Measure:
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
        key = (tuple(prop.get_family()), fontsize, text)
        found = _SIZES.get(key)
        if found is not None:
            return found
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)  # see fonts
            w, h, _d = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
        if len(_SIZES) >= _SIZES_MOST:
            _SIZES.clear()
        found = _SIZES[key] = (float(w) * 0.72, float(h) * 0.72)  # pixels at 100 dpi → points
        return found

    def widest(self, texts: list[str], fontsize: float) -> float:
        return max((self.size(t, fontsize)[0] for t in set(texts)), default=0.0)

    def wrap(self, text: str, fontsize: float, width_pt: float, chars: int = 90) -> list[str]:
        """``text`` wrapped into lines at most ``width_pt`` wide (and at most ``chars`` columns: :func:`wrap_lines`)."""
        while True:
            lines = wrap_lines(text, chars) or [""]
            if chars <= 20 or max(self.size(line, fontsize)[0] for line in lines) <= width_pt:
                return lines
            chars -= 5


def wrap_lines(text: str, chars: int) -> list[str]:
    """``text`` in lines of at most ``chars`` columns, broken where Unicode allows a line break (UAX #14: at
    spaces, after hyphens, and between CJK characters, which count two columns each), never inside a word.

    Text with no wide (CJK) character breaks only at spaces and hyphens, which :mod:`textwrap` finds far faster."""
    if not any(unicodedata.east_asian_width(c) in "WF" for c in text):
        return textwrap.wrap(text, chars)
    from uniseg.wrap import tt_wrap

    return [line.strip() for line in tt_wrap(text, chars) if line.strip()]


def wrap_title(text: str, chars: int) -> str:
    """A title in lines of at most ``chars`` columns (:func:`wrap_lines`)."""
    return "\n".join(wrap_lines(text, chars))


def fit_title(text: str, fontsize: float, width_pt: float, chars: int = 90) -> str:
    """``text`` in lines of at most ``chars`` columns, each measured (inside :func:`rc`: with the figure's fonts) to
    fit ``width_pt`` points less the white border on both sides: a CJK title, twice as wide per character, is never
    cut at the figure's edges."""
    return "\n".join(Measure().wrap(text, fontsize, width_pt - 2 * EDGE_PT, chars))


def legend_columns(labels: list[str], fontsize: float, width_pt: float, most: int) -> int:
    """How many columns (at most ``most``) a legend of ``labels`` can have and fit ``width_pt`` points: each column is
    matplotlib's handle, pad and widest label, measured; columns are spaced and the legend padded as matplotlib
    does (``legend.handlelength`` 2, ``handletextpad`` 0.8, ``columnspacing`` 2, ``borderpad`` 0.4 em)."""
    column = (2.0 + 0.8) * fontsize + Measure().widest(labels, fontsize)
    room = width_pt - 2 * EDGE_PT - 2 * 0.4 * fontsize
    columns = int((room + 2.0 * fontsize) // (column + 2.0 * fontsize))
    return max(1, min(most, columns))


def colorbar(fig, cmap, vmax: float, rect_pt: tuple[float, float, float, float], fig_w_pt: float, fig_h_pt: float,
             label: str) -> None:
    """A colour bar (0 to ``vmax``) in ``rect_pt`` = (x, y, width, height) points from the bottom left."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    x, y, w, h = rect_pt
    cax = fig.add_axes((x / fig_w_pt, y / fig_h_pt, w / fig_w_pt, h / fig_h_pt))
    bar = fig.colorbar(ScalarMappable(Normalize(0.0, vmax), cmap), cax=cax)
    bar.set_label(label)


def bar_width_pt(measure: Measure, vmax: float, label: str) -> float:
    """Room right of a heatmap for its colour bar: gap, bar, ticks, tick labels, its title."""
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
    return 14.0 + 12.0 + TICK_PT + label_w + LABEL_PAD_PT + measure.size(label, 9)[1] + EDGE_PT


def token_ticks(fig, idx: list[int], labels: list[str], n: int, left: float, bottom: float, grid: float,
                width: float, height: float) -> None:
    """Tick marks and token labels below (rotated 45°, right end at the tick) and left of a square grid.

    Positions are in points from the figure's bottom left; what matplotlib's own ticks would draw
    (3.5 pt marks, 3.5 pt pad, 8 pt labels), without its axis machinery (five artists per label)."""
    import matplotlib
    from matplotlib.collections import LineCollection

    cell = grid / n
    colour = matplotlib.rcParams["text.color"]
    segs, below, beside = [], [], []
    for i, label in zip(idx, labels):
        x = left + (i + 0.5) * cell
        y = bottom + grid - (i + 0.5) * cell
        segs.append([(x / width, bottom / height), (x / width, (bottom - 3.5) / height)])
        segs.append([(left / width, y / height), ((left - 3.5) / width, y / height)])
        below.append((x / width, (bottom - TICK_PT) / height, label, colour))
        beside.append(((left - TICK_PT) / width, y / height, label, colour))
    stamp(fig, fig.transFigure, below, 8, ha="right", va="top", rotation=45)
    stamp(fig, fig.transFigure, beside, 8, ha="right", va="center")
    fig.add_artist(LineCollection(segs, colors="black", linewidths=0.8, transform=fig.transFigure))


def cell_values(ax, cells: list[tuple[float, float, str, str]], fontsize: float) -> None:
    """Numbers centred on points of ``ax`` (``(x, y, text, colour)`` in data coordinates): :func:`stamp` in the
    axes' data coordinates, centred."""
    stamp(ax, ax.transData, cells, fontsize)


def stamp(parent, transform, items: list[tuple[float, float, str, str]], fontsize: float, *, ha: str = "center",
          va: str = "center", rotation: float = 0.0) -> None:
    """Short texts (``(x, y, text, colour)`` in ``transform``'s coordinates) placed as ``parent.text(x, y, text,
    ha=ha, va=va, rotation=rotation, rotation_mode="anchor")`` would place them, drawn by one artist that renders
    each distinct string once in this process: a heatmap has up to 576 numbers and two labels per token, and each
    text artist costs about a millisecond (layout, font lookup along the fallback list, rendering the same few strings
    again). A string takes that way when the figure's first family has all its characters and none of them is
    right-to-left or combining (no shaping needed); any other string, and every string in a vector image (SVG), is
    a plain text artist, laid out by matplotlib."""
    from matplotlib.font_manager import FontProperties, findfont

    prop = FontProperties(size=fontsize)  # the family list of the rc context
    path = findfont(prop)
    covered = fonts.coverage([prop.get_family()[0]]) if path else frozenset()
    fast, slow = [], []
    for item in items:
        (fast if _stampable(item[2], covered) else slow).append(item)
    for x, y, text, colour in slow:
        parent.text(x, y, text, ha=ha, va=va, rotation=rotation, rotation_mode="anchor", fontsize=fontsize,
                    color=colour, transform=transform)
    if fast:
        parent.add_artist(_stamps_artist()(transform, fast, prop, path, ha, va, rotation))


def _stampable(text: str, covered) -> bool:
    return bool(text) and all(ord(c) in covered and not unicodedata.combining(c)
                              and unicodedata.bidirectional(c) not in _RTL for c in text)


_RTL = {"R", "AL", "AN", "RLE", "RLO", "RLI", "PDF", "PDI", "FSI", "LRE", "LRO", "LRI", "NSM"}


@functools.lru_cache(maxsize=1)
def _stamps_artist():
    from matplotlib.artist import Artist

    class Stamps(Artist):
        zorder = 3  # where texts are drawn

        def __init__(self, transform, items, prop, path, ha, va, rotation):
            super().__init__()
            self.items, self.prop, self.path = items, prop, path
            self.ha, self.va, self.rotation = ha, va, rotation
            self.set_transform(transform)
            self.set_clip_on(False)
            self.set_in_layout(False)  # inside the axes or measured by the caller: no room to make for it

        def draw(self, renderer) -> None:
            from matplotlib.backends.backend_agg import RendererAgg

            if not self.get_visible():
                return
            if not isinstance(renderer, RendererAgg):  # vector output: real texts, drawn as paths
                self._draw_texts(renderer)
                return
            import numpy as np

            renderer.open_group("stamps", gid=self.get_gid())
            gc = renderer.new_gc()
            points = self.get_transform().transform(np.array([(x, y) for x, y, _t, _c in self.items], dtype=float))
            size = self.prop.get_size_in_points()
            for (px, py), (_x, _y, text, colour) in zip(points, self.items):
                image, dx, dy = _stamp_image(self.path, size, renderer.dpi, text, colour, self.ha, self.va,
                                             self.rotation)
                renderer.draw_image(gc, round(px + dx), round(py + dy), image)
            gc.restore()
            renderer.close_group("stamps")

        def _draw_texts(self, renderer) -> None:
            from matplotlib.text import Text

            for x, y, text, colour in self.items:
                t = Text(x, y, text, ha=self.ha, va=self.va, rotation=self.rotation, rotation_mode="anchor",
                         fontproperties=self.prop, color=colour)
                t.set_transform(self.get_transform())
                t.set_figure(self.get_figure(root=False))
                t.set_clip_on(False)
                t.draw(renderer)

    return Stamps


@functools.lru_cache(maxsize=4096)
def _stamp_image(path: str, size: float, dpi: float, text: str, colour: str, ha: str, va: str, rotation: float):
    """``text`` rendered once by FreeType as Agg draws text (same hinting, antialiased, turned by ``rotation``
    degrees): the RGBA image and where its bottom left goes from the text's anchor point, in pixels (y up).

    As matplotlib aligns a line: its box runs from the baseline's start to its advance, from the descent below the
    baseline to the ascent above it (height and descent at least those of "lp"); the point ``ha``/``va`` name on that
    box is the anchor, and the text turns about it."""
    import numpy as np
    from matplotlib.backends.backend_agg import get_hinting_flag
    from matplotlib.colors import to_rgb
    from matplotlib.font_manager import get_font

    font = get_font(path)

    def laid_out(s: str, angle: float) -> tuple[float, float, float]:
        font.clear()
        font.set_size(size, dpi)
        font.set_text(s, angle, flags=get_hinting_flag())
        w, h = font.get_width_height()
        return w / 64.0, h / 64.0, font.get_descent() / 64.0

    _w, lp_h, lp_d = laid_out("lp", 0.0)
    w, h, d = laid_out(text, 0.0)
    h, d = max(h, lp_h), max(d, lp_d)
    ax_ = {"left": 0.0, "center": w / 2, "right": w}[ha]
    ay_ = {"bottom": -d, "baseline": 0.0, "center": h / 2 - d, "top": h - d}[va]
    t = math.radians(rotation)
    cos, sin = math.cos(t), math.sin(t)
    # the baseline's start, from the anchor: the anchor's place on the box, turned, taken back
    ox, oy = -(ax_ * cos - ay_ * sin), -(ax_ * sin + ay_ * cos)
    _w, _h, ink_d = laid_out(text, rotation)  # the turned glyphs: the bitmap's bottom is ink_d below the origin
    font.draw_glyphs_to_bitmap(antialiased=True)
    grey = np.asarray(font.get_image())
    xo = font.get_bitmap_offset()[0] / 64.0
    image = np.empty(grey.shape + (4,), dtype=np.uint8)
    image[..., :3] = (np.array(to_rgb(colour)) * 255).round().astype(np.uint8)
    image[..., 3] = grey[::-1]  # draw_image takes the bottom row first
    # half a pixel lower: a text's own bitmap lands on the pixel row below its (fractional) baseline; the caller rounds
    return image, ox + xo, oy - ink_d - 0.5
