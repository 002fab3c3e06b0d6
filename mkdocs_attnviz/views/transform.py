"""Attention → Attention transforms applied before any view draws: ``aggregate``, ``granularity`` and
``special_tokens="hide-raw"`` (and ``hide`` when it goes with one of them).

The computations are :mod:`mkdocs_attnviz.analysis` (pure numpy); this module only applies them in the right
order to a record and says what was done, so that every view (heatmap, bars, heads, model...) shows the result
unchanged:

1. ``aggregate="rollout"|"flow"`` on the token-level attention of the whole input (special tokens included:
   they carry attention in the model): the heads of each layer are fused (``head="mean"``, the paper's choice,
   or ``"max"``) and the layer axis becomes "up to layer l"; the record then has one (fused) head.
2. ``granularity="word"``: pieces merged into words (attention *to* a word summed, *from* a word averaged).
3. ``special_tokens="hide"`` (rows renormalised) or ``"hide-raw"`` (rows as they are: they sum to less than 1).

What was done is stated in ``meta["analysis"]`` (``layer_prefix``, ``heads``, ``notes``), which
:func:`mkdocs_attnviz.render.describe` and the pages' scripts put in the figure's title.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from .. import analysis
from ..attention import CONTINUATION, SPACE_LABEL, Attention
from ..errors import AttnvizError
from ..spec import FigureSpec

__all__ = ["needed", "apply", "apply_always", "word_labels", "aggregated"]

_MEMO: list[tuple[Any, tuple, Attention]] = []  # (record, options, result), a few recent
_AGGREGATED: dict[tuple[str, str, str], np.ndarray] = {}  # (weights digest, aggregate, fusion) -> (L, n, n)


def needed(spec: FigureSpec) -> bool:
    return spec.aggregate != "none" or spec.granularity != "token" or spec.special_tokens == "hide-raw"


def _fusion(spec: FigureSpec) -> str:
    return spec.head if spec.head in ("mean", "max") else "mean"


def aggregated(weights: np.ndarray, aggregate: str, how: str) -> np.ndarray:
    """Rollout or flow of ``weights`` (computed once per process for the same weights)."""
    w = np.ascontiguousarray(weights, dtype=np.float32)
    key = (hashlib.sha256(w.tobytes() + repr(w.shape).encode()).hexdigest(), aggregate, how)
    if key not in _AGGREGATED:
        if len(_AGGREGATED) > 16:
            _AGGREGATED.clear()
        fn = analysis.rollout if aggregate == "rollout" else analysis.attention_flow
        _AGGREGATED[key] = fn(w, how)
    return _AGGREGATED[key]


def word_labels(labels: list[str], groups: list[list[int]]) -> list[str]:
    """A word's label: its pieces' labels joined (continuations of a split character and lone spaces dropped)."""
    out = []
    for members in groups:
        parts = [labels[i] for i in members]
        if len(parts) > 1:
            parts = [p for p in parts if not p.startswith(CONTINUATION) and p != SPACE_LABEL] or parts[:1]
        out.append("".join(parts))
    return out


def apply(att: Attention, spec: FigureSpec) -> tuple[Attention, FigureSpec]:
    """The record the views draw for ``spec``, and the spec they draw it with (already transformed)."""
    if not needed(spec):
        return att, spec
    return apply_always(att, spec)


def apply_always(att: Attention, spec: FigureSpec) -> tuple[Attention, FigureSpec]:
    """:func:`apply`, also for a plain ``special_tokens="hide"`` (the views that hide specials themselves)."""
    options = (spec.aggregate, spec.granularity, spec.special_tokens, _fusion(spec), spec.attention, spec.view)
    for record, opts, result in _MEMO:
        if record is att and opts == options:
            return result, _spec(spec)
    result = _apply(att, spec)
    _MEMO.append((att, options, result))
    del _MEMO[:-4]
    return result, _spec(spec)


def _spec(spec: FigureSpec) -> FigureSpec:
    """The spec the views draw a transformed record with (specials already hidden, heads already fused)."""
    return dataclasses.replace(spec, special_tokens="show",
                               head=spec.head if spec.aggregate == "none" else ("all" if spec.head == "all" else "mean"))


def _apply(att: Attention, spec: FigureSpec) -> Attention:
    what = ([o for o, on in (("aggregate", spec.aggregate != "none"), ("granularity", spec.granularity != "token"))
             if on] or ["special_tokens"])[0]
    notes: list[str] = list((att.meta.get("analysis") or {}).get("notes", []))  # e.g. generated tokens
    meta = dict(att.meta)
    if att.meta.get("is_encoder_decoder"):
        if spec.attention not in (None, "encoder"):
            raise AttnvizError(f"{what}= applies to self-attention: with an encoder-decoder model it works on "
                               "attention=\"encoder\" only", option=what)
        meta["is_encoder_decoder"] = False
        notes.append("encoder self-attention")
    if spec.view == "neuron":
        raise AttnvizError("the neuron view shows the softmax of one head over every token: "
                           f"{what}= does not apply", option=what)
    weights = np.asarray(att.weights, dtype=np.float64)
    tokens, labels = list(att.tokens), list(att.labels)
    special, segments = [bool(s) for s in att.special], [int(s) for s in att.segments]
    word_ids = meta.get("word_ids")
    analysis_meta: dict[str, Any] = {}

    if spec.aggregate != "none":
        how = _fusion(spec)
        if spec.aggregate == "flow":
            analysis.check_flow_size(att.num_layers, att.num_tokens)
        weights = aggregated(att.weights, spec.aggregate, how)[:, None]
        analysis_meta["layer_prefix"] = spec.aggregate + " up to "
        analysis_meta["heads"] = f"{how} of {att.num_heads} heads, residual ½(A + I)"

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
        notes.append(f"{len(groups)} words from {n_tokens} tokens (to a word: sum over its pieces; from a word: "
                     "mean)")
        if "generated" in meta:
            meta["generated"] = {**meta["generated"], "prompt": segments.index(1) if 1 in segments else len(groups)}

    if spec.special_tokens in ("hide", "hide-raw") and any(special):
        keep = [not s for s in special]
        if not any(keep):
            raise AttnvizError("every token is a special token: nothing is left to show once they are hidden",
                               option="special_tokens")
        renormalise = spec.special_tokens == "hide"
        weights = analysis.hide_tokens(weights, keep, renormalise=renormalise)
        idx = [i for i, k in enumerate(keep) if k]
        tokens, labels = [tokens[i] for i in idx], [labels[i] for i in idx]
        segments = [segments[i] for i in idx]
        word_ids = [word_ids[i] for i in idx] if word_ids is not None and len(word_ids) == len(keep) else None
        special = [False] * len(idx)
        notes.append("special tokens hidden, rows renormalised" if renormalise
                     else "special tokens hidden, rows not renormalised (they sum to less than 1)")

    analysis_meta["notes"] = notes
    meta["analysis"] = analysis_meta
    meta["word_ids"] = word_ids
    return Attention(weights=np.ascontiguousarray(weights, dtype=np.float32), tokens=tokens, labels=labels,
                     special=special, segments=segments, model=att.model, revision=att.revision,
                     causal=bool(att.causal), meta=meta, arrays={})
