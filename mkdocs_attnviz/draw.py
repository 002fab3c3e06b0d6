"""Drawing one attention record without a site: the figure's page, picture, description and height.

These are what a site build does for each figure (:class:`~mkdocs_attnviz.pipeline.FigureBuilder`), for a record
you have in hand (from :func:`mkdocs_attnviz.extract.extract`, the cache, or your own numbers)::

    page = draw.figure_page(att, build_spec({}, "The cat sat.", defaults={"model": "m"}))

Each call prepares the figure (:func:`mkdocs_attnviz.prepare.prepare`) and hands it to its view from the registry
(:mod:`mkdocs_attnviz.views`). ``other``: the second record of ``compare="text:..."``/``"model:..."``.
"""

from __future__ import annotations

from . import views
from .attention import Attention
from .errors import AttnvizError
from .prepare import Prepared, prepare
from .spec import FigureSpec
from .toolkit.mpl import image_format
from .views.base import Frame

__all__ = ["prepared", "frame", "picture", "figure_page", "figure_png", "figure_svg", "describe", "figure_height", "alt_text"]


def prepared(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> Prepared:
    """``spec``'s figure of ``att``, prepared for the view that draws it."""
    return prepare(att, spec, views.get(views.name_for(spec)), other=other)


def frame(fig: Prepared, *, resources: str = "local", bokeh_src: str = "bokeh.min.js",
          font: str | None = None, name: str = "figure", inline: bool = False) -> Frame:
    """What a render works out once: the view's description and height, how the page loads BokehJS, the figure's
    file name (side files are named after it) and whether side files' data goes into the page instead."""
    return Frame(title=fig.view.describe(fig), height=fig.view.height(fig), resources=resources,
                 bokeh_src=bokeh_src, font=font, name=name, inline=inline)


def figure_page(att: Attention, spec: FigureSpec, *, other: Attention | None = None, resources: str = "local",
                bokeh_src: str = "bokeh.min.js") -> str:
    """The standalone HTML page of the figure (for an ``<iframe>``); a long input's layers go into the page itself."""
    fig = prepared(att, spec, other=other)
    return fig.view.page(fig, frame(fig, resources=resources, bokeh_src=bokeh_src, inline=True))


def figure_png(att: Attention, spec: FigureSpec, *, other: Attention | None = None, font: str | None = None) -> bytes:
    """The figure's static picture as PNG (matplotlib, deterministic)."""
    fig = prepared(att, spec, other=other)
    return fig.view.picture(fig, frame(fig, font=font))


def figure_svg(att: Attention, spec: FigureSpec, *, other: Attention | None = None, font: str | None = None) -> bytes:
    """The figure's static picture as SVG (text as paths, deterministic)."""
    fig = prepared(att, spec, other=other)
    return picture(fig, frame(fig, font=font), "svg")


def picture(fig: Prepared, frame: Frame, fmt: str = "png") -> bytes:
    """A prepared figure's picture as ``png`` or ``svg``."""
    with image_format(fmt):
        data = fig.view.picture(fig, frame)
    if fmt == "svg" and not data.lstrip().startswith((b"<?xml", b"<svg")):
        raise AttnvizError(f"view={fig.spec.view!r} cannot be drawn as SVG yet", option="view")
    return data


def describe(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    """What the figure shows, e.g. ``model M, layer 5 of 6 (last), mean of 12 heads``."""
    fig = prepared(att, spec, other=other)
    return fig.view.describe(fig)


def figure_height(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> int:
    """CSS pixels the ``<iframe>`` of the figure needs."""
    fig = prepared(att, spec, other=other)
    return fig.view.height(fig)


def alt_text(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    """The alt text of the figure's picture."""
    fig = prepared(att, spec, other=other)
    return fig.view.alt(fig, fig.view.describe(fig))
