"""Every phrase a figure says about itself, in the figure's language.

:class:`Texts` is bound to one language (:mod:`mkdocs_attnviz.i18n`): the views write every word through it — its
``_`` (gettext) and ``n_`` (ngettext), and the phrases shared by several views below (the layer and head of a
selection, what the transforms did, who computed the attention, alt text). The pages' scripts get the words they
need as one dictionary (:meth:`Texts.script_texts`, keys from :func:`script_words`: the core's
:data:`SCRIPT_TEXTS` and each view's own), so a reader switching layer or
head sees the same phrases in the same language. Layers and heads are numbered from 0, as in the options.
"""

from __future__ import annotations

from typing import Any

from .i18n import N_, normalize, translations

__all__ = ["Texts", "SCRIPT_TEXTS", "SET_NAMES", "script_words", "view_titles"]

#: the attention sets of an encoder–decoder model, as a description names them
SET_NAMES = {"self": N_("self-attention"), "encoder": N_("encoder self-attention"),
             "decoder": N_("decoder self-attention (causal)"), "cross": N_("cross-attention (target × source)")}

#: the words the client core and the canvas views' shared script write, by key (``Attnviz.core.t(key, params)``
#: fills ``{name}`` placeholders); each view declares its own script's words and its title with the view
#: (:attr:`mkdocs_attnviz.views.base.View.words`, ``title``), and :func:`script_words` joins them all
SCRIPT_TEXTS = {
    "layer": N_("Layer"), "head": N_("Head"), "query": N_("Query"), "key": N_("Key"), "weight": N_("Weight"),
    "heads": N_("Heads"), "attention_set": N_("Attention"), "all": N_("all"), "mean": N_("mean"), "max": N_("max"),
    "last": N_("{layer} (last)"), "layer_of": N_("layer {layer} of {total}"),
    "layer_of_last": N_("layer {layer} of {total} (last)"), "head_of": N_("head {head} of {total}"),
    "layer_n": N_("layer {layer}"), "head_n": N_("head {head}"), "special": N_("(special)"), "pair": N_("(pair)"),
    "masked_short": N_("masked (a later token)"), "download": N_("Download the attention shown as {format}"),
    "no_bokeh": N_("BokehJS did not load, so the interactive figure cannot be shown."),
    "no_decompression": N_("This browser cannot decompress the figure data (no DecompressionStream); please use a "
                           "current browser."),
    "cannot_draw_view": N_("Could not draw this view: {error}"),
    "cannot_draw": N_("Could not draw the figure: {error}"),
    "side_missing": N_("Could not load {file}, a data file of this figure"),
    "token_label": N_("token {index} “{label}”"), "layers_heads": N_("{layers} layers × {heads} heads"),
    # the keyboard (attnviz-keys.js): the heatmap's cells and the model/summary views' layers × heads grid
    "cells_help": N_("Attention cells. The arrow keys move from cell to cell, Home and End to the first and last key "
                     "of the row, Ctrl+Home and Ctrl+End to the first and last cell."),
    "cell_said": N_("{query} → {key}: {weight}"),
    "heads_help": N_("Layers and heads. The arrow keys choose a head, Enter or Space shows it."),
    # a live figure's sentence box (attnviz-live.js)
    "live_label": N_("Your sentence"), "live_run": N_("Run the model"),
    "live_back": N_("Back to the author's sentence"),
    "live_file": N_("Your own sentence needs the page served over http(s): a page opened from a file cannot load "
                    "the model."),
    "live_no_wasm": N_("This browser cannot run the model (it has no WebAssembly)."),
    "live_long": N_("A figure of a long input cannot show another sentence."),
    "live_loading": N_("Loading the model…"), "live_loading_model": N_("Loading the model: {done} of {total} MB…"),
    "live_starting": N_("Starting the model…"), "live_running": N_("Running the model on your sentence…"),
    "live_fetch_failed": N_("Could not load {file} (HTTP {status})."),
    "live_corrupt": N_("{file} is not the file this page was built with."),
    "live_tokenizer": N_("Could not split the sentence into tokens as the build does."),
    "live_too_long": N_("Your sentence has {tokens} tokens; this figure takes up to {max}."),
    "live_shown": N_("Showing your sentence “{sentence}” ({tokens} tokens, {seconds} s). Weights within {bound} of "
                     "PyTorch's ({quant} weights)."),
    "live_failed": N_("Could not run the model: {error}"), "live_empty": N_("Type a sentence first."),
    "live_restored": N_("Showing the author's sentence again."),
}


def view_titles() -> dict[str, str]:
    """Each view's title (a message of the catalogues), by name, from the view registry."""
    from . import views

    return {name: views.get(name).title for name in views.REGISTRY}


def script_words() -> dict[str, str]:
    """Every word the pages' scripts write, by key: :data:`SCRIPT_TEXTS` and each registered view's ``words`` (a
    key is one word: a view may not take a key another view or the core has)."""
    from . import views

    out = dict(SCRIPT_TEXTS)
    for name in views.REGISTRY:
        for key, message in views.get(name).words.items():
            if key in out and out[key] != message:
                raise ValueError(f"view {name!r}: the script word {key!r} is taken")
            out[key] = message
    return out


class Texts:
    """The phrases of one language (an unknown language is an error naming the ``lang`` option)."""

    def __init__(self, lang: str | None = None) -> None:
        self.lang = normalize(lang)
        catalogue = translations(self.lang)
        self._ = catalogue.gettext
        self.n_ = catalogue.ngettext

    # -- selection --------------------------------------------------------------------------------
    def layer(self, layer: int | str, num_layers: int, aggregate: str | None = None) -> str:
        """``layer 5 of 6 (last)``, ``all 6 layers``; with rollout/flow, ``rollout up to layer 5 of 6 (last)``."""
        _ = self._
        if layer == "all":
            text = self.n_("all {total} layer", "all {total} layers", num_layers).format(total=num_layers)
        elif layer == num_layers - 1:
            text = _("layer {layer} of {total} (last)").format(layer=layer, total=num_layers)
        else:
            text = _("layer {layer} of {total}").format(layer=layer, total=num_layers)
        if aggregate:
            name = self.aggregate_name(aggregate)
            template = _("{aggregate} up to each of {layers}") if layer == "all" else _("{aggregate} up to {layer}")
            text = template.format(aggregate=name, layers=text, layer=text)
        return text

    def aggregate_name(self, aggregate: str) -> str:
        return {"rollout": self._("rollout"), "flow": self._("flow")}.get(aggregate, aggregate)

    def head(self, head: int | str, num_heads: int) -> str:
        """``head 3 of 12``, ``mean of 12 heads``, ``max of 12 heads`` or ``all 12 heads``."""
        if head == "all":
            return self.n_("all {total} head", "all {total} heads", num_heads).format(total=num_heads)
        if head == "mean":
            return self.n_("mean of {total} head", "mean of {total} heads", num_heads).format(total=num_heads)
        if head == "max":
            return self.n_("max of {total} head", "max of {total} heads", num_heads).format(total=num_heads)
        return self._("head {head} of {total}").format(head=head, total=num_heads)

    def fused(self, fusion: str, num_heads: int) -> str:
        """What rollout/flow did to the heads: ``mean of 12 heads, residual ½(A + I)``."""
        return self._("{heads}, residual ½(A + I)").format(heads=self.head(fusion, num_heads))

    def who(self, model: str, *, data: bool = False, attention_set: str | None = None) -> str:
        """``model M`` (and the attention set of an encoder–decoder model), or ``data FILE``."""
        text = (self._("data {name}") if data else self._("model {name}")).format(name=model)
        if attention_set:
            text += self._(", ") + self._(SET_NAMES[attention_set])
        return text

    def note(self, note: dict[str, Any]) -> str:
        """One thing the transforms (or the extraction) did, from its record in ``analysis["notes"]``."""
        _, kind = self._, note["note"]
        if kind == "hidden":
            return _("special tokens hidden, rows renormalised")
        if kind == "hidden_raw":
            return _("special tokens hidden, rows not renormalised (they sum to less than 1)")
        if kind == "encoder":
            return _("encoder self-attention")
        if kind == "words":
            return _("{words} words from {tokens} tokens (to a word: sum over its pieces; from a word: mean)").format(
                words=note["words"], tokens=note["tokens"])
        if kind == "generated":
            return self.n_("{count} token generated greedily after the prompt (after the dashed line)",
                           "{count} tokens generated greedily after the prompt (after the dashed line)",
                           note["count"]).format(count=note["count"])
        if kind == "preview":
            return _("quick preview by onnxruntime (a build without previews runs PyTorch)")
        raise ValueError(f"unknown note {kind!r}")

    def join(self, parts: list[str]) -> str:
        """The parts of a description joined: ``a, b, c`` (``、`` in Japanese...)."""
        return self._(", ").join(parts)

    def selection(self, who: str, layer: int | str, head: int | str, num_layers: int, num_heads: int, *,
                  analysis: dict[str, Any] | None = None, hidden: bool = False) -> str:
        """What one layer/head choice of a figure shows: who, the layer, the heads, then the notes."""
        analysis = analysis or {}
        heads = (self.fused(analysis["fusion"], analysis["num_heads"]) if analysis.get("aggregate")
                 else self.head(head, num_heads))
        parts = [who, self.layer(layer, num_layers, analysis.get("aggregate")), heads]
        if hidden:
            parts.append(self.note({"note": "hidden"}))
        return self.join(parts + [self.note(n) for n in analysis.get("notes", [])])

    def token(self, index: int, label: str) -> str:
        """``token 3 “cat”``."""
        return self._("token {index} “{label}”").format(index=index, label=label)

    def alt(self, title: str, description: str, sentence: str) -> str:
        """The alt text of a figure's picture: the kind of figure (its view's ``title``, a message of the
        catalogues), what it shows, and the sentence."""
        return self._("{view} of {description} for: {sentence}").format(
            view=self._(title), description=description, sentence=sentence)

    # -- the pages' scripts -----------------------------------------------------------------------
    def static_texts(self) -> dict[str, Any]:
        """Every word the pages' scripts write, translated (one file per language, shared by every figure:
        :mod:`mkdocs_attnviz.toolkit.assets`)."""
        out: dict[str, Any] = {key: self._(message) for key, message in script_words().items()}
        out["sep"] = self._(", ")
        out["sets"] = {name: self._(message) for name, message in SET_NAMES.items()}
        out["hidden"] = self.note({"note": "hidden"})
        return out

    def figure_texts(self, num_layers: int, num_heads: int, analysis: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
        """The words of one figure's scripts that depend on the figure: its counts where a plural depends on them
        (``all_layers``, ``all_heads``, ``mean_heads``, ``max_heads``), and what the transforms did, as the words
        put around a layer (``aggregate_layer`` / ``aggregate_all``, with a ``{layer}`` / ``{layers}`` placeholder),
        the fused heads and the notes."""
        out: dict[str, Any] = {"all_layers": self.layer("all", num_layers)}
        for head in ("all", "mean", "max"):
            out[f"{head}_heads"] = self.head(head, num_heads)
        analysis = analysis or {}
        if analysis.get("aggregate"):
            name = self.aggregate_name(analysis["aggregate"])
            out["aggregate_layer"] = self._("{aggregate} up to {layer}").replace("{aggregate}", name)
            out["aggregate_all"] = self._("{aggregate} up to each of {layers}").replace("{aggregate}", name)
            out["fused_heads"] = self.fused(analysis["fusion"], analysis["num_heads"])
        out["notes"] = [self.note(n) for n in analysis.get("notes", [])]
        return out

    def script_texts(self, num_layers: int, num_heads: int, analysis: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
        """:meth:`static_texts` and :meth:`figure_texts` together: every word a figure's scripts use."""
        return {**self.static_texts(), **self.figure_texts(num_layers, num_heads, analysis)}

    def __repr__(self) -> str:
        return f"Texts({self.lang!r})"

