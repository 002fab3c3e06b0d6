"""Every phrase a figure says about itself, in the figure's language.

:class:`Texts` is bound to one language (:mod:`mkdocs_attnviz.i18n`): the views write every word through it — its
``_`` (gettext) and ``n_`` (ngettext), and the phrases shared by several views below (the layer and head of a
selection, what the transforms did, who computed the attention, alt text). The pages' scripts get the words they
need as one dictionary (:meth:`Texts.script_texts`, keys in :data:`SCRIPT_TEXTS`), so a reader switching layer or
head sees the same phrases in the same language. Layers and heads are numbered from 0, as in the options.
"""

from __future__ import annotations

from typing import Any

from .i18n import N_, normalize, translations

__all__ = ["Texts", "SCRIPT_TEXTS", "VIEW_TITLES", "SET_NAMES"]

#: the name of each kind of figure, as alt text starts
VIEW_TITLES = {"heatmap": N_("Attention heatmap"), "bars": N_("Attention bar chart"), "heads": N_("Head view"),
               "model": N_("Model view"), "neuron": N_("Neuron view"), "summary": N_("Head summary"),
               "compare": N_("Attention comparison")}
#: the attention sets of an encoder–decoder model, as a description names them
SET_NAMES = {"self": N_("self-attention"), "encoder": N_("encoder self-attention"),
             "decoder": N_("decoder self-attention (causal)"), "cross": N_("cross-attention (target × source)")}

#: every word the pages' scripts write, by key (``AttnvizCommon.t(key, params)`` fills ``{name}`` placeholders)
SCRIPT_TEXTS = {
    "layer": N_("Layer"), "head": N_("Head"), "query": N_("Query"), "key": N_("Key"), "weight": N_("Weight"),
    "token": N_("Token"), "heads": N_("Heads"), "statistic": N_("Statistic"), "filter": N_("Filter"),
    "chart": N_("Chart"), "attention_set": N_("Attention"), "all": N_("all"), "mean": N_("mean"), "max": N_("max"),
    "bars": N_("bars"), "line": N_("line"), "last": N_("{layer} (last)"), "tokens": N_("Tokens"),
    "first_token": N_("first token shown"), "last_token": N_("last token shown"),
    "layer_of": N_("layer {layer} of {total}"), "layer_of_last": N_("layer {layer} of {total} (last)"),
    "head_of": N_("head {head} of {total}"), "layer_n": N_("layer {layer}"), "head_n": N_("head {head}"),
    "special": N_("(special)"), "pair": N_("(pair)"),
    "masked": N_("masked (a later token: the model cannot see it)"), "masked_short": N_("masked (a later token)"),
    "key_tokens": N_("Key tokens"), "query_tokens": N_("Query tokens"),
    "key_tokens_heads": N_("Key tokens (tiles: heads)"), "query_tokens_layers": N_("Query tokens (tiles: layers)"),
    "key_tokens_tile": N_("Key tokens (per tile)"), "query_tokens_tile": N_("Query tokens (per tile)"),
    "received": N_("Attention received (mean over queries)"), "attention_weight": N_("Attention weight"),
    "download": N_("Download the attention shown as {format}"),
    "no_bokeh": N_("BokehJS did not load, so the interactive figure cannot be shown."),
    "no_decompression": N_("This browser cannot decompress the figure data (no DecompressionStream); please use a "
                           "current browser."),
    "cannot_draw_view": N_("Could not draw this view: {error}"),
    "cannot_draw": N_("Could not draw the figure: {error}"),
    "side_missing": N_("Could not load {file}, a data file of this figure"),
    "block_max": N_("{value} (the largest in a block of {size} × {size} tokens)"),
    "first_tile": N_("first tile of {layers}, {heads}"),
    # the canvas views
    "all_received": N_("all (received)"), "masked_later": N_("masked: later tokens"),
    "attention_received": N_("attention received (mean over queries)"), "attention_given": N_("attention given by {query}"),
    "token_label": N_("token {index} “{label}”"), "title_bars": N_("Bar chart: {description}"),
    "heads_label": N_("Heads:"), "head_toggle": N_("Head {head}: click to toggle, double-click to show it alone"),
    "title_heads": N_("Head view: {description}"), "heads_shown": N_("{count} of {total} heads"),
    "mean_of_all": N_("mean of all {total}"), "mean_of_list": N_("mean of {heads}"),
    "target_queries": N_("Target (queries)"), "queries_attending": N_("Queries (attending)"),
    "source_keys": N_("Source (keys)"), "keys_attended": N_("Keys (attended to)"), "attends_to": N_("Attends to"),
    "attended_by": N_("Attended by"),
    "model_legend": N_("Rows: layers, columns: heads. Each thumbnail has its own colour scale (0 to its largest "
                       "weight). Click one to enlarge it."),
    "enlarged_head": N_("Layer {layer}, head {head} (largest weight {weight})"),
    "layers_heads": N_("{layers} layers × {heads} heads"), "enlarged": N_("enlarged: layer {layer}, head {head}"),
    "title_model": N_("Model view: {description}"), "click_enlarge": N_("click to enlarge"),
    "summary_legend": N_("{description}. Hover a head for its numbers; click it to open its heatmap."),
    "log_n": N_("(log n = {value} nats)"), "head_numbers": N_("Layer {layer}, head {head}: {numbers}"),
    "statistic_value": N_("{statistic} {value}"), "opened": N_("opened: layer {layer}, head {head}"),
    "title_summary": N_("Head summary: {description}"), "entropy_nats": N_("Entropy (nats)"),
    "of_log_n": N_("{value} of log n = {log_n}"), "click_open": N_("click to open its heatmap"),
    "neuron_legend": N_("blue: positive, orange: negative; score = q · k × {scale}; softmax over the keys = the "
                        "attention weight"),
    "neuron_legend_bias": N_("blue: positive, orange: negative; score = q · k × {scale} + bias; softmax over the "
                             "keys = the attention weight"),
    "neuron_legend_softcap": N_("blue: positive, orange: negative; score = {cap} · tanh(q · k × {scale} / {cap}), "
                                "plus the bias if there is one; softmax over the keys = the attention weight"),
    "bias": N_("bias"),
    "kv_shared": N_("key/value head {kv} is shared by query heads {first}–{last}"),
    "masked_window": N_("masked (outside this layer's attention window)"),
    "query_q": N_("query q"), "keys_k": N_("keys k"), "score": N_("score"),
    "masked_word": N_("masked"), "title_neuron": N_("Neuron view: {description}"), "query_of": N_("query {query}"),
    "fused": N_("fused"), "side_layer": N_("{side} layer"), "side_head": N_("{side} head"),
    "compare_legend": N_("A and B share one colour scale; A − B: red where A is larger, blue where B is larger."),
    "title_compare": N_("Comparison: A = {a}; B = {b}; {difference}"), "panel_title": N_("{side}: layer {layer}, {head}"),
}


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

    def alt(self, view: str, description: str, sentence: str) -> str:
        """The alt text of a figure's picture: the kind of figure, what it shows, and the sentence."""
        return self._("{view} of {description} for: {sentence}").format(
            view=self._(VIEW_TITLES[view]), description=description, sentence=sentence)

    # -- the pages' scripts -----------------------------------------------------------------------
    def static_texts(self) -> dict[str, Any]:
        """Every word the pages' scripts write, translated (one file per language, shared by every figure:
        :mod:`mkdocs_attnviz.toolkit.assets`)."""
        out: dict[str, Any] = {key: self._(message) for key, message in SCRIPT_TEXTS.items()}
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

