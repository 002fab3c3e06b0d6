"""What a view is: the small protocol every module of :mod:`mkdocs_attnviz.views` implements, and the shell of
the canvas views' page.

A view gets a :class:`~mkdocs_attnviz.prepare.Prepared` figure (computed once) and a :class:`Frame` (what the
pipeline worked out once for this render: the title, the height, how BokehJS is loaded, the font) and returns
its page (standalone HTML for an ``<iframe>``, no network request but BokehJS, works from ``file://``) and its
picture (PNG, or SVG inside :func:`mkdocs_attnviz.toolkit.mpl.image_format`).

Every view's page carries one :class:`~mkdocs_attnviz.contract.Payload` (:func:`payload`): the model, sentence,
initial choices and ``sets`` (per attention set: its query and key tokens, sizes, causal), and
``<script type="application/octet-stream" data-set="S" data-layer="L">`` blocks with the weights of each layer
(:func:`mkdocs_attnviz.toolkit.page.pack_layer`). The canvas views' shell is ``view.html.jinja``
(:func:`canvas_page`); the heatmap's is ``figure.html.jinja`` (Bokeh).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from .. import alternative
from ..attention import Attention
from ..contract import SCALE, VERSION, AttentionSet, Axis, Payload
from ..prepare import Part, Prepared, Side
from ..spec import FigureSpec
from ..toolkit import assets
from ..toolkit import page as kit

__all__ = ["View", "Frame", "canvas_page", "canvas_data", "payload", "initial_layer", "pair_boundary", "side_json", "set_json", "pack_sets", "CANVAS_SCRIPTS", "CANVAS_CSS"]

#: what every canvas view's page loads before its own script
CANVAS_SCRIPTS = ("attnviz-common.js", "attnviz-canvas.js")
CANVAS_CSS = ("figure.css", "views.css")


@dataclasses.dataclass(frozen=True)
class Frame:
    """What the pipeline computed once for one render, handed to the page and the picture."""

    title: str  # the view's description of the figure
    height: int  # CSS pixels of the <iframe>
    resources: str = "local"  # how the heatmap page loads BokehJS: local | cdn | inline
    bokeh_src: str = "bokeh.min.js"  # BokehJS's URL relative to the page (resources = local)
    font: str | None = None  # the site's font for the pictures (a figure's font= wins)
    name: str = "figure"  # the figure's file name without suffix: side files are named after it
    inline: bool = False  # side files' data goes into the page itself (no site to publish them next to it)

    @property
    def self_contained(self) -> bool:
        """The page holds its shared scripts and styles itself (no site beside it, or ``resources = "inline"``)."""
        return self.inline or self.resources == "inline"


class View:
    """One view. Subclasses set the class attributes and implement the four drawing methods."""

    name: str = ""
    scripts: tuple[str, ...] = ()  # templates/ scripts of its page, in order
    title: str = ""  # what the alt text calls the figure (a message: ``N_("Attention heatmap")``)
    words: dict[str, str] = {}  # its script's own words by key (messages, extracted into the catalogues by pybabel)
    record_level: bool = False  # shows a whole record: special tokens are hidden from the record, not per set
    uses_query: bool = False  # resolves ``query=``
    captures: tuple[str, ...] = ()  # what the extraction must capture besides the attention (``qk``: q/k vectors)
    long_inputs: bool = False  # draws a long input's record, kept one layer at a time (``Attention.layered``)
    live: bool = False  # redraws the reader's own sentence (``live="true"``; templates/attnviz-live.js)

    def page_scripts(self, fig: Prepared) -> tuple[str, ...]:
        """The scripts of ``fig``'s page: the view's, and the live box's when the figure is live."""
        return self.scripts + (("attnviz-live.js",) if self.live and fig.live is not None else ())

    def check(self, att: Attention, spec: FigureSpec) -> None:
        """Refuse what does not apply to this view (``AttnvizError`` naming the option); runs first."""

    def describe(self, fig: Prepared) -> str:
        """What the figure shows, e.g. ``model M, layer 5 of 6 (last), mean of 12 heads``."""
        return fig.describe()

    def height(self, fig: Prepared) -> int:
        """CSS pixels the ``<iframe>`` needs: ``height=``, or the view's :meth:`natural_height`."""
        return int(fig.spec.height) if fig.spec.height else self.natural_height(fig)

    def natural_height(self, fig: Prepared) -> int:
        """CSS pixels the view's page needs for this figure (no ``height=``)."""
        raise NotImplementedError

    def page(self, fig: Prepared, frame: Frame) -> str:
        """The standalone HTML page."""
        raise NotImplementedError

    def picture(self, fig: Prepared, frame: Frame) -> bytes:
        """The static picture (PNG; SVG inside ``image_format("svg")``)."""
        raise NotImplementedError

    def files(self, fig: Prepared, frame: Frame) -> Iterator[tuple[str, bytes]]:
        """The page's side files, ``(suffix, content)``, published next to it (``frame.name + suffix``); none unless
        the page loads data lazily (a long input's heatmap)."""
        return iter(())

    def ahead(self, spec: FigureSpec) -> Any:
        """What this view's pages share that the spec alone decides, made before the model has run: a PNG worker
        makes it while the build loads the model (:mod:`mkdocs_attnviz.pictures`) and the build takes it with
        :meth:`adopt`. None: nothing (the default)."""
        return None

    def adopt(self, made: Any) -> None:
        """Keep what :meth:`ahead` made in another process, for this process's pages."""

    def alt(self, fig: Prepared, description: str) -> str:
        """The alt text: the kind of figure, what it shows, the sentence, then the keys most attended to in the
        layer and head it opens on (:func:`mkdocs_attnviz.alternative.summary`)."""
        spec = fig.spec
        sentence = spec.text if spec.pair is None else f"{spec.text} / {spec.pair}"
        return " ".join(filter(None, [fig.tx.alt(self.title, description, shorten(sentence)),
                                      alternative.summary(fig)]))


#: the longest sentence an alt text repeats (a page says it three times: the iframe's title and two PNGs' alt)
ALT_SENTENCE = 300


def shorten(text: str, limit: int = ALT_SENTENCE) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def side_json(side: Side) -> Axis:
    """One axis of a set for the page: labels, shortened tick labels, raw tokens, special and segment flags."""
    return Axis(labels=list(side.labels), ticks=[kit.display_label(x) for x in side.labels], tokens=list(side.tokens),
                special=[bool(s) for s in side.special], segments=[int(s) for s in side.segments])


def set_json(p: Part) -> AttentionSet:
    return AttentionSet(nq=len(p.q.labels), nk=len(p.k.labels), q=side_json(p.q), k=side_json(p.k),
                        causal=bool(p.causal), square=bool(p.square))


def pack_sets(sets: dict[str, Part]) -> tuple[dict[str, AttentionSet], list[tuple[str, int, str]]]:
    """``(sets, blobs)``: each set's tokens and sizes, and its weights packed layer by layer."""
    data: dict[str, AttentionSet] = {}
    blobs: list[tuple[str, int, str]] = []
    for name, p in sets.items():
        data[name] = set_json(p)
        weights = p.f32
        blobs += [(name, index, kit.pack_layer(weights[index])) for index in range(weights.shape[0])]
    return data, blobs


def canvas_data(fig: Prepared, frame: Frame, sets: dict[str, Part], *, query: int | None = None
                ) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    """The JSON of a canvas view's page (model, sentence, initial choices, the sets' tokens) and its packed layers.

    The initial layer is the figure's (``all`` opens on the last); the initial head the figure's."""
    record = fig.record
    sets_json, blobs = pack_sets(sets)
    data = payload(fig, frame, sets_json, layer=initial_layer(fig), query=query,
                   who=fig.tx.who(record.model, data=record.meta.get("source") == "data"),  # the set is said apart
                   hidden=fig.hide_each and any(record.special))
    return data, blobs


def payload(fig: Prepared, frame: Frame, sets: dict[str, AttentionSet], *, layer: int | str, head: int | str | None = None,
            query: int | None = None, who: str | None = None, hidden: bool = False, set_name: str | None = None,
            extra: dict[str, Any] | None = None, num_layers: int | None = None, num_heads: int | None = None,
            analysis: dict[str, Any] | None = None, palette: bool = True) -> dict[str, Any]:
    """The page's JSON (a :class:`~mkdocs_attnviz.contract.Payload`) for ``fig``: the common fields from the
    figure, the view's own ``extra`` keys beside them (``palette=False``: the page's colours are elsewhere)."""
    from ..toolkit.colors import palette as colours

    spec, record = fig.spec, fig.record
    num_layers = fig.num_layers if num_layers is None else num_layers
    num_heads = fig.num_heads if num_heads is None else num_heads
    return Payload(
        version=VERSION, view=fig.view.name, title=frame.title, model=record.model, who=fig.who if who is None else who,
        text=spec.text, pair=spec.pair, theme=spec.theme, num_layers=num_layers, num_heads=num_heads, layer=layer,
        head=fig.head if head is None else head, query=query, filter=spec.filter,
        set=fig.part.name if set_name is None else set_name, sets=sets,
        palette=colours(spec.colormap) if palette else None, scale=SCALE,
        hidden=bool(hidden), i18n=fig.tx.figure_texts(num_layers, num_heads, fig.analysis if analysis is None else analysis),
        live=fig.live, extra=extra or {}).json()


def pair_boundary(segments: list[int]) -> int | None:
    """Index of the first token of the pair sentence (None without a pair)."""
    return next((i for i, s in enumerate(segments) if s == 1), None)


def initial_layer(fig: Prepared) -> int:
    """The layer a one-layer view opens on: the figure's, the last one for ``layer="all"``."""
    return fig.num_layers - 1 if fig.layer == "all" else int(fig.layer)


def canvas_page(fig: Prepared, frame: Frame, view: View, data: dict[str, Any], blobs: list[tuple[str, int, str]],
                qk: list[tuple[str, int, str]] | tuple = ()) -> str:
    """A canvas view's page: ``view.html.jinja`` with the view's data, packed blocks and scripts."""
    spec = fig.spec
    return assets.render_page(
        "view.html.jinja", css=CANVAS_CSS, scripts=view.page_scripts(fig), inline=frame.self_contained,
        title=frame.title, caption=spec.caption, figure_id=spec.id, text=spec.text, pair=spec.pair,
        view=view.name, header_px=kit.HEADER_PX, plot_height=frame.height - kit.HEADER_PX - 6,
        data_json=kit.markup(kit.script_json(data)), blobs=blobs, qk=list(qk), render_version=kit.RENDER_VERSION,
        alternative=alternative.context(fig), lang=fig.tx.lang, _=fig.tx._)

