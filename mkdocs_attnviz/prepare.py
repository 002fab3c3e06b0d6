"""A figure prepared once: the record transformed, the attention set shown, the selection resolved, the checks run.

:func:`prepare` runs once per render, before any view draws: every view (page, picture, description, height)
reads the same :class:`Prepared` and computes nothing of it again.

1. The view's own checks (:meth:`mkdocs_attnviz.views.View.check`): what does not apply to it is refused.
2. Transforms of the record (``aggregate``, ``granularity``, ``special_tokens="hide-raw"``, and ``hide`` with
   them or for the views that show a whole record, summary and comparison), in this order, on the token-level
   attention of the whole input (:mod:`mkdocs_attnviz.analysis` computes; this module applies and says what
   was done in ``analysis``):

   a. ``aggregate="rollout"|"flow"``: the heads of each layer fused (``head="mean"``, the paper's choice, or
      ``"max"``), the layer axis becomes "up to layer l"; the record then has one (fused) head;
   b. ``granularity="word"``: pieces merged into words (attention *to* a word summed, *from* a word averaged);
   c. ``special_tokens="hide"`` (rows renormalised) or ``"hide-raw"`` (rows as they are).
3. The attention sets (:class:`Part`: ``self``, or ``encoder``/``decoder``/``cross``) and the one ``attention=``
   asks for; a plain ``special_tokens="hide"`` hides the special tokens of each set (its own rows and columns).
4. ``layer``, ``head`` and ``query`` resolved against the record (0-based, ``last`` and negative indices).

Hiding special tokens has one implementation (:func:`mkdocs_attnviz.analysis.hide_tokens`), used by 2c and 3.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable, MutableMapping, Protocol

from .lazy import np

from . import analysis
from .attention import CONTINUATION, SPACE_LABEL, Attention
from .errors import AttnvizError
from .spec import FigureSpec
from .texts import Texts

__all__ = ["Side", "Part", "Prepared", "prepare", "parts_of", "hide_part", "transform", "resolve_layer",
           "resolve_head", "resolve_query", "word_labels", "ViewChecks"]


@dataclasses.dataclass
class Side:
    """The tokens along one axis of a part (queries or keys)."""

    labels: list[str]
    tokens: list[str]
    special: list[bool]
    segments: list[int]


@dataclasses.dataclass
class Part:
    """One attention set: ``weights[l, h, q, k]`` with its query and key tokens (square unless cross).

    ``weights`` keeps the record's own precision (a ``data=`` file's float64 numbers stay exact for the
    heatmap); :attr:`f32` is the float32 array the canvas views pack. A long input's ``weights`` is its
    :class:`~mkdocs_attnviz.layers.LayerStore` (read one layer at a time)."""

    name: str  # self | encoder | decoder | cross
    weights: np.ndarray  # (layers, heads, nq, nk)
    q: Side
    k: Side
    causal: bool

    @property
    def square(self) -> bool:
        return self.name != "cross"

    @property
    def f32(self) -> np.ndarray:
        return np.asarray(self.weights, dtype=np.float32)


class ViewChecks(Protocol):
    """What :func:`prepare` needs of a view (see :class:`mkdocs_attnviz.views.View`)."""

    name: str
    record_level: bool
    uses_query: bool

    def check(self, att: Attention, spec: FigureSpec) -> None: ...


@dataclasses.dataclass
class Prepared:
    """Everything a view draws from, computed once."""

    spec: FigureSpec  # as the author wrote it
    view: Any  # the View of the registry that draws it
    record: Attention  # the record after the transforms of step 2
    parts: dict[str, Part]  # every attention set of ``record``, hidden as the spec says
    part: Part  # the set shown (``attention=``)
    layer: int | str  # resolved: an index or "all"
    head: int | str  # resolved: an index, "mean", "max" or "all" ("mean" once heads are fused)
    query: int | None  # resolved ``query=`` (views that use one), else None
    who: str  # "model M" (with the attention set of an encoder-decoder model), or "data FILE"
    analysis: dict[str, Any]  # what the transforms did: aggregate, fusion, num_heads; notes (records)
    hidden: bool  # special tokens were hidden from the set shown (step 3), and it had some
    hide_each: bool  # step 3 hid the special tokens of each set (a plain special_tokens="hide")
    tx: Texts = dataclasses.field(default_factory=Texts)  # the figure's words, in its language
    other: "Prepared | None" = None  # the second input of compare="text:..." / "model:..."
    live: Any = None  # a live figure's contract.LiveInfo (live="true"), set by the pipeline
    derived: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # see derive

    def derive(self, name: str, compute: Callable[[], Any]) -> Any:
        """What a view computes from the figure, once per render: ``compute()`` the first time ``name`` is asked
        for, the same value after (its page, picture and height share it)."""
        if name not in self.derived:
            self.derived[name] = compute()
        return self.derived[name]

    @property
    def num_layers(self) -> int:
        return self.record.num_layers

    @property
    def num_heads(self) -> int:
        return int(self.part.weights.shape[1])

    def describe(self, layer: int | str | None = None, head: int | str | None = None) -> str:
        """``who, layer ..., heads ..., notes`` for this figure (or another layer/head of it)."""
        return self.tx.selection(self.who, self.layer if layer is None else layer,
                                 self.head if head is None else head, self.num_layers, self.num_heads,
                                 analysis=self.analysis, hidden=self.hidden)


# ------------------------------------------------------------------------------------------- selection

def resolve_layer(layer: int | str, num_layers: int) -> int | str:
    """Turn ``last`` and negative indices into a 0-based index; check the range."""
    if layer == "all":
        return "all"
    index = num_layers - 1 if layer == "last" else int(layer)
    if index < 0:
        index += num_layers
    if not 0 <= index < num_layers:
        raise AttnvizError(f"layer {layer} is out of range: the model has {num_layers} layers "
                           f"(0 to {num_layers - 1}, or -1 to -{num_layers})", option="layer")
    return index


def resolve_head(head: int | str, num_heads: int) -> int | str:
    """Check a head index against the model."""
    if isinstance(head, str):
        return head
    if not 0 <= head < num_heads:
        raise AttnvizError(f"head {head} is out of range: the model has {num_heads} heads (0 to {num_heads - 1})",
                           option="head")
    return head


def resolve_query(query: int | str | None, labels: list[str], tokens: list[str] | None = None) -> int | None:
    """The index of ``query`` (an index, a negative index, or a token's text) among ``labels``."""
    if query is None:
        return None
    n = len(labels)
    if isinstance(query, int):
        index = query + n if query < 0 else query
        if not 0 <= index < n:
            raise AttnvizError(f"query {query} is out of range: the input has {n} tokens (0 to {n - 1})",
                               option="query")
        return index
    for candidates in (labels, tokens or []):
        for i, label in enumerate(candidates):
            if label == query:
                return i
    lowered = query.lower()
    for i, label in enumerate(labels):
        if label.lower() == lowered:
            return i
    shown = ", ".join(repr(x) for x in labels[:12]) + (" ..." if n > 12 else "")
    raise AttnvizError(f"no token {query!r} in the input (tokens: {shown})", option="query")


# ----------------------------------------------------------------------------------------------- parts

def _side(labels, tokens, special, segments) -> Side:
    return Side(list(labels), list(tokens), [bool(s) for s in special], [int(s) for s in segments])


def parts_of(att: Attention) -> dict[str, Part]:
    """Every attention set of ``att``: ``{"self": ...}`` or ``{"encoder", "decoder", "cross"}``."""
    src = _side(att.labels, att.tokens, att.special, att.segments)
    own = att.weights if att.layered else np.asarray(att.weights)  # a long input's layers stay where they are
    if not att.meta.get("is_encoder_decoder") or "decoder" not in att.arrays:
        name = "encoder" if att.meta.get("is_encoder_decoder") else "self"
        return {name: Part(name, own, src, src, bool(att.causal))}
    dec = att.meta["decoder"]
    tgt = _side(dec["labels"], dec["tokens"], dec["special"], [0] * len(dec["tokens"]))
    return {"encoder": Part("encoder", own if att.layered else np.asarray(att.weights, np.float32), src, src, False),
            "decoder": Part("decoder", np.asarray(att.arrays["decoder"], np.float32), tgt, tgt, True),
            "cross": Part("cross", np.asarray(att.arrays["cross"], np.float32), tgt, src, False)}


def _choose(available: dict[str, Part], att: Attention, wanted: str | None) -> Part:
    if wanted is None:
        return next(iter(available.values()))
    if wanted not in available:
        if not att.meta.get("is_encoder_decoder"):
            raise AttnvizError(f"attention={wanted!r} is for encoder-decoder models; {att.model!r} has one "
                               "self-attention", option="attention")
        raise AttnvizError(f"no {wanted} attention was extracted", option="attention")
    return available[wanted]


def hide_part(p: Part) -> Part:
    """``special_tokens="hide"`` for one set: its special rows and columns dropped, the rows renormalised."""
    qi = [i for i, s in enumerate(p.q.special) if not s]
    ki = [i for i, s in enumerate(p.k.special) if not s]
    if len(qi) == len(p.q.special) and len(ki) == len(p.k.special):
        return p
    if not qi or not ki:
        raise AttnvizError("every token is a special token: nothing is left to show once they are hidden",
                           option="special_tokens")
    w = analysis.hide_tokens(p.f32, [not s for s in p.q.special], [not s for s in p.k.special], renormalise=True)

    def pick(side: Side, idx: list[int]) -> Side:
        return Side([side.labels[i] for i in idx], [side.tokens[i] for i in idx], [False] * len(idx),
                    [side.segments[i] for i in idx])

    return Part(p.name, w.astype(np.float32), pick(p.q, qi), pick(p.k, ki), p.causal)


# ------------------------------------------------------------------------------------------ transforms

def needs_transform(spec: FigureSpec) -> bool:
    return spec.aggregate != "none" or spec.granularity != "token" or spec.special_tokens == "hide-raw"


def _fusion(spec: FigureSpec) -> str:
    return spec.head if spec.head in ("mean", "max") else "mean"


def word_labels(labels: list[str], groups: list[list[int]]) -> list[str]:
    """A word's label: its pieces' labels joined (continuations of a split character and lone spaces dropped)."""
    out = []
    for members in groups:
        pieces = [labels[i] for i in members]
        if len(pieces) > 1:
            pieces = [p for p in pieces if not p.startswith(CONTINUATION) and p != SPACE_LABEL] or pieces[:1]
        out.append("".join(pieces))
    return out


def _aggregated(weights: np.ndarray, aggregate: str, how: str, memo: MutableMapping | None) -> np.ndarray:
    """Rollout or flow of ``weights``; ``memo`` (the builder's) keeps results by the weights' digest."""
    w = np.ascontiguousarray(weights, dtype=np.float32)
    key = (hashlib.sha256(w.tobytes() + repr(w.shape).encode()).hexdigest(), aggregate, how)
    if memo is not None and key in memo:
        return memo[key]
    fn = analysis.rollout if aggregate == "rollout" else analysis.attention_flow
    result = fn(w, how)
    if memo is not None:
        memo[key] = result
    return result


def transform(att: Attention, spec: FigureSpec, memo: MutableMapping | None = None) -> Attention:
    """The record with ``aggregate``, ``granularity`` and ``special_tokens`` applied (see the module docs);
    what was done is in ``meta["analysis"]``. ``memo``: where rollout/flow results are kept between figures."""
    what = ([o for o, on in (("aggregate", spec.aggregate != "none"), ("granularity", spec.granularity != "token"))
             if on] or ["special_tokens"])[0]
    notes = base_notes(att)
    meta = dict(att.meta)
    if att.meta.get("is_encoder_decoder"):
        if spec.attention not in (None, "encoder"):
            raise AttnvizError(f"{what}= applies to self-attention: with an encoder-decoder model it works on "
                               "attention=\"encoder\" only", option=what)
        meta["is_encoder_decoder"] = False
        notes.append({"note": "encoder"})
    weights = np.asarray(att.weights, dtype=np.float64)
    tokens, labels = list(att.tokens), list(att.labels)
    special, segments = [bool(s) for s in att.special], [int(s) for s in att.segments]
    word_ids = meta.get("word_ids")
    done: dict[str, Any] = {}

    if spec.aggregate != "none":
        how = _fusion(spec)
        if spec.aggregate == "flow":
            analysis.check_flow_size(att.num_layers, att.num_tokens)
        weights = _aggregated(att.weights, spec.aggregate, how, memo)[:, None]
        done.update(aggregate=spec.aggregate, fusion=how, num_heads=att.num_heads)

    if spec.granularity == "word":
        if att.meta.get("source") == "data" or word_ids is None or len(word_ids) != len(tokens):
            raise AttnvizError("granularity=\"word\" needs the word of each token, which only a model's fast "
                               "tokenizer gives (not data= files)", option="granularity")
        groups = analysis.word_groups(word_ids, special, segments)
        weights = analysis.merge_words(weights, groups)
        n_tokens = len(tokens)
        labels = word_labels(labels, groups)
        tokens = [" ".join(tokens[i] for i in g) for g in groups]
        special = [special[g[0]] for g in groups]
        segments = [segments[g[0]] for g in groups]
        word_ids = [None if special[i] else i for i in range(len(groups))]
        notes.append({"note": "words", "words": len(groups), "tokens": n_tokens})
        if "generated" in meta:
            meta["generated"] = {**meta["generated"], "prompt": segments.index(1) if 1 in segments else len(groups)}

    if spec.special_tokens in ("hide", "hide-raw") and any(special):
        keep = [not s for s in special]
        if not any(keep):
            raise AttnvizError("every token is a special token: nothing is left to show once they are hidden",
                               option="special_tokens")
        renormalise = spec.special_tokens == "hide"
        weights = analysis.hide_tokens(weights, keep, keep, renormalise=renormalise)
        idx = [i for i, k in enumerate(keep) if k]
        tokens, labels = [tokens[i] for i in idx], [labels[i] for i in idx]
        segments = [segments[i] for i in idx]
        word_ids = [word_ids[i] for i in idx] if word_ids is not None and len(word_ids) == len(keep) else None
        special = [False] * len(idx)
        notes.append({"note": "hidden" if renormalise else "hidden_raw"})

    done["notes"] = notes
    meta["analysis"] = done
    meta["word_ids"] = word_ids
    return Attention(weights=np.ascontiguousarray(weights, dtype=np.float32), tokens=tokens, labels=labels,
                     special=special, segments=segments, model=att.model, revision=att.revision,
                     causal=bool(att.causal), meta=meta, arrays={})


# --------------------------------------------------------------------------------------------- prepare

def base_notes(att: Attention) -> list[dict[str, Any]]:
    """What the extraction did that every figure of the record says (generated tokens; a quick preview's
    onnxruntime run, which only a server's build has)."""
    generated = att.meta.get("generated")
    notes = [{"note": "generated", "count": int(generated["new"])}] if generated else []
    if att.meta.get("engine") == "onnxruntime":
        notes.append({"note": "preview"})
    return notes


def who(att: Attention, part: Part, tx: Texts) -> str:
    """``model M`` (plus the attention set of an encoder–decoder model), or ``data FILE``."""
    return tx.who(att.model, data=att.meta.get("source") == "data",
                  attention_set=part.name if att.meta.get("is_encoder_decoder") else None)


def prepare(att: Attention, spec: FigureSpec, view: ViewChecks, *, other: Attention | None = None,
            memo: MutableMapping | None = None) -> Prepared:
    """The figure ``spec`` asks for, from the record ``att``, ready for ``view`` to draw (see the module docs).

    ``other``: the second record of ``compare="text:..."``/``"model:..."``, prepared the same way."""
    if att.layered and not getattr(view, "long_inputs", False):
        raise AttnvizError(f"the {view.name} view draws every layer at once; an input of {att.num_tokens} tokens is "
                           "kept one layer at a time and shown by the heatmap (view=\"heatmap\")", option="view")
    view.check(att, spec)
    tx = Texts(spec.lang)
    head_spec = spec.head
    per_part_hide = spec.special_tokens == "hide"
    record = att
    if needs_transform(spec) or (per_part_hide and view.record_level):
        record = transform(att, spec, memo)
        per_part_hide = False
        if spec.aggregate != "none":
            head_spec = "all" if spec.head == "all" else "mean"
    available = parts_of(record)
    chosen = _choose(available, record, spec.attention)
    hidden = per_part_hide and any(chosen.q.special)
    if per_part_hide:
        available = {name: hide_part(p) for name, p in available.items()}
        chosen = available[chosen.name]
    layer = resolve_layer(spec.layer, record.num_layers)
    head = resolve_head(head_spec, record.num_heads)
    query = resolve_query(spec.query, chosen.q.labels, chosen.q.tokens) if view.uses_query else None
    analysis = record.meta.get("analysis") if record is not att else {"notes": base_notes(att)}
    prepared = Prepared(spec=spec, view=view, record=record, parts=available, part=chosen, layer=layer, head=head,
                        query=query, who=who(record, chosen, tx), analysis=dict(analysis), hidden=hidden,
                        hide_each=per_part_hide, tx=tx)
    if other is not None:
        prepared.other = prepare(other, spec, view, memo=memo)
    return prepared
