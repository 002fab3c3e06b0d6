"""The page contract: what every figure page carries, declared once.

A figure page (any view, the heatmap included) holds one ``<script type="application/json" id="attnviz-data">``
block: a :class:`Payload`. Its attention sets (:class:`AttentionSet`, each with a query and a key :class:`Axis`)
name the packed weight blocks of the page (``<script type="application/octet-stream" data-set="S"
data-layer="L">``: ``uint8`` ``round(w * scale)`` of shape ``(heads, nq, nk)``, zlib, base64,
:func:`mkdocs_attnviz.toolkit.page.pack_layer`). The scripts read the same shape: ``templates/attnviz-types.js``
declares it as JSDoc ``@typedef``s (``Payload``, ``AttentionSet``, ``Axis``) that ``tsc`` checks every script
against, and a test checks that both name the same fields. The scripts refuse a page whose ``version`` they do
not know and divide by ``scale``, never by a number of their own.

A view adds what only it draws (the heatmap's Bokeh document, the neuron view's vectors, the comparison's two
records) as ``extra``: the keys of the top-level object next to the payload's own, declared in the view's script
as an intersection with ``Payload``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["VERSION", "SCALE", "Axis", "AttentionSet", "LiveInfo", "Payload", "fields"]

#: the version of the page contract; the scripts know exactly this one (``Attnviz.VERSION`` in attnviz-common.js)
VERSION = 2
#: a packed weight is ``round(w * SCALE)`` (:func:`mkdocs_attnviz.analysis.quantize`)
SCALE = 255


@dataclasses.dataclass(frozen=True)
class Axis:
    """One axis of an attention set: the tokens' labels, shortened tick labels, raw tokens, special and segment
    flags (``1``: the pair sentence)."""

    labels: list[str]
    ticks: list[str]
    tokens: list[str]
    special: list[bool]
    segments: list[int]


@dataclasses.dataclass(frozen=True)
class AttentionSet:
    """One attention set of a page: ``nq`` queries × ``nk`` keys, its axes, whether the future is masked."""

    nq: int
    nk: int
    q: Axis
    k: Axis
    causal: bool
    square: bool


@dataclasses.dataclass(frozen=True)
class LiveInfo:
    """A live figure's (``live="true"``) way to the model: ``templates/attnviz-live.js`` fetches nothing until the
    reader asks."""

    manifest: str  # the URL of the export's live.json, relative to the figure page
    runtime: str  # the URL of the runtime folder (onnxruntime-web, tokenizers), relative to the figure page, ending "/"
    reason: str | None  # None, or why this page cannot go live, in the figure's language


@dataclasses.dataclass(frozen=True)
class Payload:
    """What every figure page carries (``#attnviz-data``)."""

    version: int  # VERSION
    view: str  # the view's registry name
    title: str  # what the figure shows (the page's title until the script writes its own)
    model: str  # the model name (or data file)
    who: str  # "model M" / "data F", in the figure's language
    text: str  # the sentence
    pair: str | None  # the pair sentence
    theme: str  # auto | light | dark
    num_layers: int
    num_heads: int
    layer: int | str  # the initial layer (an index, or "all" for the heatmap's small multiples)
    head: int | str  # the initial head: an index, mean, max or all
    query: int | None  # the initial query token (views that show one query), else None
    filter: str | None  # the head view's initial pair filter
    set: str  # the initial attention set
    sets: dict[str, AttentionSet]  # every attention set of the page, by name
    palette: list[str] | None  # the colour map, as #rrggbb; None where the view's colours are elsewhere (the heatmap:
    # its Bokeh document's colour mapper)
    scale: int  # SCALE: a packed weight is round(w * scale)
    hidden: bool  # special tokens are hidden (said in the title)
    i18n: dict[str, Any]  # the figure's own words (counts, notes): texts.Texts.figure_texts
    live: LiveInfo | None = None  # a live figure's manifest and runtime (None unless the figure is live)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # what only this view draws

    def json(self) -> dict[str, Any]:
        """The JSON object of the page: the payload's fields, then the view's ``extra`` keys."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["sets"] = {name: dataclasses.asdict(s) for name, s in self.sets.items()}
        out["live"] = dataclasses.asdict(self.live) if self.live is not None else None
        clash = set(out) & set(self.extra)
        if clash:
            raise ValueError(f"a view's extra keys may not replace the payload's own: {sorted(clash)}")
        out.update(self.extra)
        return out


def fields(cls: type) -> list[str]:
    """The field names of one contract class as a page's JSON has them (``extra`` is not a key of its own)."""
    return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]
