"""Every phrase a figure says about itself, in one place: titles, descriptions, alt text.

A figure's description ("model M, layer 5 of 6 (last), mean of 12 heads") is put together here from a prepared
figure's parts; the pages' scripts build the same phrases when a reader switches layer or head. Layers and heads
are numbered from 0, as in the directive's options.
"""

from __future__ import annotations

__all__ = ["layer_text", "head_text", "describe_selection", "alt_text", "SET_TEXT", "HIDDEN_NOTE", "VIEW_TITLES"]

#: the attention sets of an encoder–decoder model, as a description names them
SET_TEXT = {"encoder": "encoder self-attention", "decoder": "decoder self-attention (causal)",
            "cross": "cross-attention (target × source)"}
#: said of a figure whose special tokens were hidden (``special_tokens="hide"``)
HIDDEN_NOTE = "special tokens hidden, rows renormalised"
#: the name of each kind of figure, as alt text starts
VIEW_TITLES = {"heatmap": "Attention heatmap", "bars": "Attention bar chart", "heads": "Head view",
               "model": "Model view", "neuron": "Neuron view", "summary": "Head summary",
               "compare": "Attention comparison"}


def layer_text(layer: int | str, num_layers: int) -> str:
    """``layer 5 of 6 (last)`` or ``all 6 layers``."""
    if layer == "all":
        return f"all {num_layers} layers"
    return f"layer {layer} of {num_layers}" + (" (last)" if layer == num_layers - 1 else "")


def head_text(head: int | str, num_heads: int) -> str:
    """``head 3 of 12``, ``mean of 12 heads`` or ``all 12 heads``."""
    if head == "all":
        return f"all {num_heads} heads"
    if head in ("mean", "max"):
        return f"{head} of {num_heads} heads"
    return f"head {head} of {num_heads}"


def describe_selection(who: str, layer: int | str, head: int | str, num_layers: int, num_heads: int, *,
                       analysis: dict | None = None, hidden: bool = False) -> str:
    """What one layer/head choice of a figure shows: who, the layer, the heads, then the notes.

    ``analysis`` is what the transforms did (``layer_prefix``, ``heads``, ``notes``: rollout/flow, words, hidden
    special tokens, generated tokens); ``hidden``: special tokens were hidden from this attention set."""
    analysis = analysis or {}
    text = layer_text(layer, num_layers)
    if analysis.get("layer_prefix"):
        text = analysis["layer_prefix"] + ("each of " if layer == "all" else "") + text
    parts = [who, text, analysis.get("heads") or head_text(head, num_heads)]
    if hidden:
        parts.append(HIDDEN_NOTE)
    return ", ".join(parts + list(analysis.get("notes", [])))


def alt_text(view: str, description: str, sentence: str) -> str:
    """The alt text of a figure's picture: the kind of figure, what it shows, and the sentence."""
    return f"{VIEW_TITLES[view]} of {description} for: {sentence}"
