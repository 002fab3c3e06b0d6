"""Every view of a figure, chosen with ``view=``: one entry point for the figure page, the PNG and the texts.

=========  ==========================================================================================
heatmap    query × key matrix (:mod:`mkdocs_attnviz.render`, Bokeh); numbers in the cells, colour maps,
           the classic matplotlib recipe (``style="classic"``), causal masking, the pair boundary.
bars       attention each token *receives* (mean over the queries of each column) or that one query
           token *gives* (``query=``), for a layer and a head aggregation (:mod:`.pages`, canvas).
heads      bertviz's head view: two token columns, one line per (query, key) weighted by attention and
           coloured by head; hover a token, toggle heads, switch layers, filter A→A/A→B/B→A/B→B.
model      bertviz's model view: a layers × heads grid of thumbnails; click one to enlarge it.
neuron     the query and key vectors, their element-wise product and q·k behind one head's attention
           for one query token (vectors captured with forward hooks, see ``extract``).
summary    per layer × head statistics (entropy, distance, special/previous/self/next shares) in one
           grid; click a head to open its heatmap (:mod:`.summary`).
=========  ==========================================================================================

``compare=`` makes a comparison figure instead (:mod:`.compare`): A, B and A − B. ``aggregate=``,
``granularity=`` and ``special_tokens="hide-raw"`` transform the record before any view draws it
(:mod:`.transform`).

Every view reads the same record (:class:`~mkdocs_attnviz.attention.Attention`). An encoder–decoder
record holds three *attention sets* (``encoder``, ``decoder``, ``cross``); :func:`part` picks one as a
rectangular :class:`Part` (cross attention is target × source). ``data=`` figures (:mod:`.data`) are
records without a model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..attention import Attention
from ..errors import AttnvizError
from ..spec import FigureSpec, resolve_head, resolve_layer

__all__ = ["Part", "part", "parts", "as_attention", "figure_page", "figure_png", "figure_svg", "figure_height", "describe",
           "alt_text", "VIEW_NAMES"]

VIEW_NAMES = {"heatmap": "Attention heatmap", "bars": "Attention bar chart", "heads": "Head view",
              "model": "Model view", "neuron": "Neuron view", "summary": "Head summary",
              "compare": "Attention comparison"}
SET_TEXT = {"encoder": "encoder self-attention", "decoder": "decoder self-attention (causal)",
            "cross": "cross-attention (target × source)"}


@dataclasses.dataclass
class Side:
    """The tokens along one axis of a part (queries or keys)."""

    labels: list[str]
    tokens: list[str]
    special: list[bool]
    segments: list[int]


@dataclasses.dataclass
class Part:
    """One attention set: ``weights[l, h, q, k]`` with its query and key tokens (square unless cross)."""

    name: str  # self | encoder | decoder | cross
    weights: np.ndarray  # (layers, heads, nq, nk) float32
    q: Side
    k: Side
    causal: bool

    @property
    def square(self) -> bool:
        return self.name != "cross"


def _side(labels, tokens, special, segments) -> Side:
    return Side(list(labels), list(tokens), [bool(s) for s in special], [int(s) for s in segments])


def parts(att: Attention) -> dict[str, Part]:
    """Every attention set of ``att``: ``{"self": ...}`` or ``{"encoder", "decoder", "cross"}``."""
    src = _side(att.labels, att.tokens, att.special, att.segments)
    if not att.meta.get("is_encoder_decoder") or "decoder" not in att.arrays:
        name = "encoder" if att.meta.get("is_encoder_decoder") else "self"
        return {name: Part(name, np.asarray(att.weights, np.float32), src, src, bool(att.causal))}
    dec = att.meta["decoder"]
    tgt = _side(dec["labels"], dec["tokens"], dec["special"], [0] * len(dec["tokens"]))
    return {"encoder": Part("encoder", np.asarray(att.weights, np.float32), src, src, False),
            "decoder": Part("decoder", np.asarray(att.arrays["decoder"], np.float32), tgt, tgt, True),
            "cross": Part("cross", np.asarray(att.arrays["cross"], np.float32), tgt, src, False)}


def part(att: Attention, spec: FigureSpec) -> Part:
    """The attention set ``spec.attention`` asks for (encoder / self-attention by default)."""
    available = parts(att)
    wanted = spec.attention
    if wanted is None:
        return next(iter(available.values()))
    if wanted not in available:
        if not att.meta.get("is_encoder_decoder"):
            raise AttnvizError(f"attention={wanted!r} is for encoder-decoder models; {att.model!r} has one "
                               "self-attention", option="attention")
        raise AttnvizError(f"no {wanted} attention was extracted", option="attention")
    return available[wanted]


def hide_part(p: Part) -> Part:
    """``special_tokens="hide"`` for any part: drop special rows and columns, renormalise the rows."""
    qi = [i for i, s in enumerate(p.q.special) if not s]
    ki = [i for i, s in enumerate(p.k.special) if not s]
    if len(qi) == len(p.q.special) and len(ki) == len(p.k.special):
        return p
    if not qi or not ki:
        raise AttnvizError("every token is a special token: nothing is left to show once they are hidden",
                           option="special_tokens")
    w = p.weights[:, :, qi][:, :, :, ki].astype(np.float64)
    sums = w.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(sums > 0, w / np.where(sums > 0, sums, 1.0), 0.0)

    def pick(side: Side, idx: list[int]) -> Side:
        return Side([side.labels[i] for i in idx], [side.tokens[i] for i in idx], [False] * len(idx),
                    [side.segments[i] for i in idx])

    return Part(p.name, w.astype(np.float32), pick(p.q, qi), pick(p.k, ki), p.causal)


def shown_part(att: Attention, spec: FigureSpec) -> Part:
    p = part(att, spec)
    return hide_part(p) if spec.special_tokens == "hide" else p


def who(att: Attention, spec: FigureSpec) -> str:
    """``model M`` (plus the attention set of an encoder–decoder model), or ``data FILE``."""
    if att.meta.get("source") == "data":
        return f"data {att.model}"
    text = f"model {att.model}"
    if att.meta.get("is_encoder_decoder"):
        text += ", " + SET_TEXT[part(att, spec).name]
    return text


def as_attention(att: Attention, spec: FigureSpec) -> Attention:
    """The chosen square part as a plain record (what the heatmap renderer takes)."""
    p = part(att, spec)
    if p.name in ("self", "encoder") and not att.meta.get("is_encoder_decoder"):
        out = att
    else:
        out = dataclasses.replace(att, weights=p.weights, tokens=p.q.tokens, labels=p.q.labels, special=p.q.special,
                                  segments=p.q.segments, causal=p.causal, arrays={})
        if not p.square:
            out.meta = {**att.meta, "key_labels": p.k.labels, "key_tokens": p.k.tokens, "key_special": p.k.special}
    out.meta = {**out.meta, "who": who(att, spec)}
    return out


def _check(att: Attention, spec: FigureSpec) -> tuple[int | str, int | str]:
    if spec.view == "heatmap" and not part(att, spec).square:
        raise AttnvizError("the heatmap shows square attention sets; show cross attention (target × source) with "
                           "view=\"heads\", \"bars\" or \"model\"", option="attention")
    layer = resolve_layer(spec.layer, att.num_layers)
    head = resolve_head(spec.head, att.num_heads)
    return layer, head


def _special(att: Attention, spec: FigureSpec, other: Attention | None = None):
    """The comparison or summary module when ``spec`` asks for one (else None)."""
    if spec.compare is not None:
        from . import compare

        return compare
    if spec.view == "summary":
        from . import summary

        return summary
    return None


def describe(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> str:
    """What the figure shows, e.g. ``model M, layer 5 of 6 (last), mean of 12 heads`` (views named)."""
    from .. import render
    from . import transform

    module = _special(att, spec)
    if module is not None:
        return module.describe(att, spec, other=other)
    att, spec = transform.apply(att, spec)

    if spec.view == "neuron" and not isinstance(spec.head, int):
        spec = dataclasses.replace(spec, head=0)  # one head: the first unless head= says which
    if spec.view == "heads" and not isinstance(spec.head, int):
        spec = dataclasses.replace(spec, head="all")
    if spec.view in ("heads", "bars", "neuron") and spec.layer == "all":
        spec = dataclasses.replace(spec, layer="last")
    text = render.describe(as_attention(att, spec), spec)
    if spec.view == "heatmap":
        return text
    if spec.view == "model":
        an = att.meta.get("analysis") or {}
        if an.get("heads"):
            return ", ".join([f"{who(att, spec)}, {an.get('layer_prefix', '')}each of {att.num_layers} layers",
                              an["heads"]] + an.get("notes", []))
        return ", ".join([f"{who(att, spec)}, all {att.num_layers} layers × {att.num_heads} heads"]
                         + an.get("notes", []))
    if spec.view == "neuron":
        return f"{text}, query {_query_text(att, spec)}"
    if spec.view == "bars" and spec.query is not None:
        return f"{text}, attention given by {_query_text(att, spec)}"
    if spec.view == "bars":
        return f"{text}, attention received (mean over queries)"
    return text


def _query_text(att: Attention, spec: FigureSpec) -> str:
    from ..spec import resolve_query

    p = shown_part(att, spec)
    q = resolve_query(spec.query, p.q.labels, p.q.tokens)
    if q is None:
        q = 0 if spec.view == "neuron" else None
    return f"token {q} {p.q.labels[q]!r}" if q is not None else "all"


def alt_text(att: Attention, spec: FigureSpec, sentence: str, *, other: Attention | None = None) -> str:
    name = VIEW_NAMES["compare" if spec.compare is not None else spec.view]
    return f"{name} of {describe(att, spec, other=other)} for: {sentence}"


def figure_page(att: Attention, spec: FigureSpec, *, resources: str = "local", bokeh_src: str = "bokeh.min.js",
                other: Attention | None = None) -> str:
    from .. import render
    from . import transform

    module = _special(att, spec)
    if module is not None:
        return module.page(att, spec, other=other)
    att, spec = transform.apply(att, spec)
    _check(att, spec)
    if spec.view == "heatmap":
        return render.figure_page(as_attention(att, spec), spec, resources=resources, bokeh_src=bokeh_src)
    from . import pages

    return pages.page(att, spec)


def figure_png(att: Attention, spec: FigureSpec, *, font: str | None = None, other: Attention | None = None) -> bytes:
    from .. import render
    from . import transform

    module = _special(att, spec)
    if module is not None:
        return module.png(att, spec, font=spec.font or font, other=other)
    att, spec = transform.apply(att, spec)
    _check(att, spec)
    font = spec.font or font
    if spec.view == "heatmap" and spec.style == "classic":
        from . import png

        return png.classic(att, spec, font=font)
    if spec.view == "heatmap":
        return render.figure_png(as_attention(att, spec), spec, font=font)
    from . import png


    return png.png(att, spec, font=font)


def figure_svg(att: Attention, spec: FigureSpec, *, font: str | None = None, other: Attention | None = None) -> bytes:
    """:func:`figure_png`'s picture as SVG: every view draws through ``render.save_figure``, which writes SVG
    inside ``render.image_format("svg")`` (text as paths, deterministic)."""
    from .. import render

    with render.image_format("svg"):
        data = figure_png(att, spec, font=font, other=other)
    if not data.lstrip().startswith((b"<?xml", b"<svg")):
        raise AttnvizError(f"view={spec.view!r} cannot be drawn as SVG yet", option="view")
    return data


def figure_height(att: Attention, spec: FigureSpec, *, other: Attention | None = None) -> int:
    from .. import render
    from . import transform

    module = _special(att, spec)
    if module is not None:
        return module.height(att, spec, other=other)
    att, spec = transform.apply(att, spec)
    if spec.view == "heatmap":
        return render.figure_height(as_attention(att, spec), spec)
    from . import pages

    return pages.height(att, spec)

