"""Encoder–decoder models: the decoder self-attention and the cross attention.

:func:`decoder_attention` runs one teacher-forced pass of the decoder over the ``target`` text or,
without it, over the model's greedy output (``max_new_tokens``), and returns the decoder
self-attention (layers, heads, T, T), the cross attention (layers, heads, T, source tokens) and the
decoder tokens, checked like the encoder's (shapes, rows summing to 1, no look at later tokens).
Failures are :class:`~mkdocs_attnviz.errors.AttnvizError` with ``option="target"``,
``"max_new_tokens"`` or ``"attention"``. numpy and torch are imported inside the function.
"""

from __future__ import annotations

from typing import Any

from ..errors import AttnvizError
from .checks import RowChecks
from .interface import DenseSink, Recorder, capture
from .load import Loaded
from .qk import pack, refusal
from .resolve import ModelRef
from .run import check_qk, failure, stack_attentions
from .stats import STATS
from .tokens import labels_from_tokens

__all__ = ["decoder_attention"]


def decoder_attention(ref: ModelRef, loaded: Loaded, inputs: dict[str, Any], n_src: int, target: str | None,
                      max_new_tokens: int, *, qk: bool = False) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """Decoder self-attention (layers, heads, T, T), cross attention (layers, heads, T, n_src), the decoder
    tokens and, with ``qk``, the neuron view's arrays and description of each set (``{"decoder": (arrays, info),
    "cross": ...}``)."""
    import numpy as np
    import torch

    tok, model, config = loaded.tokenizer, loaded.model, loaded.config
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    if start is None:
        raise AttnvizError(f"model {ref.name!r} has no decoder_start_token_id: cannot run its decoder",
                           option="target")
    limit = getattr(config, "max_position_embeddings", None) or 512
    enc_inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    if target is not None:
        try:
            ids = list(tok(text_target=target)["input_ids"])
        except Exception:
            ids = list(tok(target)["input_ids"])
        dec_ids = [int(start)] + ids
        how = "target"
    else:
        if not hasattr(model, "generate") or model.get_output_embeddings() is None:
            raise AttnvizError(f"model {ref.name!r} has no language-model head to generate with: give the decoder "
                               "text with target=\"...\"", option="target")
        try:
            with torch.inference_mode():
                out = model.generate(**enc_inputs, max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
                                     decoder_start_token_id=int(start))
        except Exception as exc:
            raise AttnvizError(f"greedy generation with model {ref.name!r} failed: {type(exc).__name__}: {exc}",
                               option="max_new_tokens") from None
        dec_ids = [int(x) for x in out[0].tolist()]
        pad = getattr(config, "pad_token_id", None)
        while len(dec_ids) > 1 and pad is not None and dec_ids[-1] == pad and pad != start:
            dec_ids.pop()
        how = "generated"
    dec_ids = dec_ids[:int(limit)]
    device_t = inputs["input_ids"].device
    T = len(dec_ids)
    sinks = {"decoder": DenseSink(), "cross": DenseSink()}
    recorder = Recorder(sinks, qk=("decoder", "cross") if qk else (), decoder=True)
    layers = getattr(config, "decoder_layers", None) or getattr(config, "num_decoder_layers", None)
    try:
        with capture(model, recorder) as routed, torch.inference_mode():
            out = model(**enc_inputs, decoder_input_ids=torch.tensor([dec_ids], dtype=torch.long, device=device_t),
                        output_attentions=not routed, return_dict=True, use_cache=False)
        STATS["forwards"] += 1
    except AttnvizError:
        raise
    except Exception as exc:
        raise failure(ref, exc, "the decoder input", option="target") from None
    if routed:
        d, c = (sinks[name].store() if sinks[name].layers else None
                for name in ("decoder", "cross"))
        if d is None or c is None or d.shape[2:] != (T, T) or c.shape[2:] != (T, n_src) or len(d) != len(c):
            raise AttnvizError(f"model {ref.name!r} returned no decoder or cross attention", option="attention")
        checks = {name: sink.checks for name, sink in sinks.items()}
    else:
        if qk:
            raise AttnvizError(refusal(config), option="view")
        d = stack_attentions(ref, getattr(out, "decoder_attentions", None), T, T, layers, "decoder", "attention")
        c = stack_attentions(ref, getattr(out, "cross_attentions", None), T, n_src, layers, "cross", "attention")
        checks = {"decoder": RowChecks(), "cross": RowChecks()}
        for name, w in (("decoder", d), ("cross", c)):
            for layer in w:
                checks[name].rows(layer)
    checks["decoder"].verify(ref.name, True, True, T, "decoder", "attention")
    checks["cross"].verify(ref.name, False, True, T, "cross", "attention")
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    if qk:
        for name, w in (("decoder", d), ("cross", c)):
            check_qk(ref, recorder.qk[name], w, name)
            found[name] = pack(recorder.qk[name], prefix=f"{name}_")
    tokens = [str(t) for t in tok.convert_ids_to_tokens(dec_ids)]
    specials = set(getattr(tok, "all_special_ids", []) or [])
    special = [i in specials for i in dec_ids]
    labels = labels_from_tokens(tok, tokens, special)
    info = {"tokens": tokens, "labels": labels, "special": special, "ids": dec_ids, "how": how}
    return np.ascontiguousarray(d), np.ascontiguousarray(c), info, found
