"""Colour maps: the same 256 colours for the page (Bokeh, canvas) and the PNG (matplotlib)."""

from __future__ import annotations

from ..spec import COLORMAPS

__all__ = ["palette", "colormap", "DIVERGING", "HEAD_COLORS"]

#: matplotlib's RdBu reversed: positive (A larger) red, negative (B larger) blue (the comparison's A − B)
DIVERGING = "RdBu_r"
#: one colour per head (the head view's lines and legend); the page uses the same list (attnviz-canvas.js)
HEAD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173"]


def palette(name: str = "viridis") -> list[str]:
    """256 colours of a colour map (Bokeh's own Viridis256 for viridis; matplotlib's samples otherwise)."""
    if name == "viridis":
        from bokeh.palettes import Viridis256

        return list(Viridis256)
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps[COLORMAPS.get(name, name)]
    return [to_hex(cmap(i / 255)) for i in range(256)]


def colormap(name: str, *, masked: str | None = "#d0d0d0"):
    """The matplotlib colour map of ``name`` (a key of :data:`~mkdocs_attnviz.spec.COLORMAPS`), masked cells grey."""
    import matplotlib

    cmap = matplotlib.colormaps[COLORMAPS.get(name, name)]
    return cmap.with_extremes(bad=masked) if masked else cmap
