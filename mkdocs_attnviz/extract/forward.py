"""The forward pass: run a model on a sentence and return the attention of every layer and head.

:func:`extract` loads the model (once per process, :mod:`.load`), tokenizes (labels, segments and
word ids from :mod:`.tokens`), runs one forward pass (:mod:`.run`: through our attention function where the
architecture routes through transformers' attention interface, else eager with ``output_attentions``) and checks
what comes back (one attention per layer, shape (1, heads, n, n), finite, rows summing to 1, no look at later
tokens for a decoder) before building the :class:`~mkdocs_attnviz.attention.Attention` record. From
:data:`~mkdocs_attnviz.attention.LONG_TOKENS` tokens on, each layer is quantised and compressed while the model
runs (:mod:`.stream`) and the record's weights are a :class:`~mkdocs_attnviz.layers.LayerStore`. On request it
also captures what the neuron view draws (:mod:`.qk`), the decoder and cross attention of an encoder-decoder model
(:mod:`.seq2seq`) or first continues the sentence greedily (:mod:`.generate`).

A failure is raised as :class:`~mkdocs_attnviz.errors.AttnvizError` (``option="model"``, ``"text"``,
``"max_tokens"``, ``"view"``...), never as a bare traceback. numpy, torch and transformers are
imported inside :func:`extract`.
"""

from __future__ import annotations

from typing import Any

from .. import attention
from ..attention import Attention
from ..errors import AttnvizError
from .generate import greedy_continuation
from .load import import_libraries, load_model, pick_device
from .qk import pack as pack_qk
from .resolve import ModelRef
from .run import accepts, check_qk, self_attention
from .seq2seq import decoder_attention
from .tokens import labels_from_offsets, labels_from_tokens, segments_from_sequence_ids, word_ids_from_encoding

__all__ = ["extract"]


def extract(ref: ModelRef, text: str, pair: str | None = None, *, max_tokens: int | None = None,
            device: str = "auto", trust_remote_code: bool = False, target: str | None = None,
            max_new_tokens: int = 20, qk: bool = False, generate: int | None = None) -> Attention:
    """Run ``ref`` on ``text`` (and ``pair``) and return all layers × heads of attention.

    The model and tokenizer are loaded once per process (see :func:`clear_models`); eager attention,
    float32, no gradients. Encoder-decoder models give their encoder self-attention as ``weights`` and,
    in ``arrays``, the decoder self-attention and the cross attention (target × source) of one
    teacher-forced pass over ``target`` or, without it, over the model's greedy output
    (``max_new_tokens``); the decoder tokens are in ``meta["decoder"]``. ``qk=True`` also captures, for the
    neuron view, q (after rotary embeddings), k (before the grouped-query repeat), the scale, the soft cap, the
    additive bias and the mask of every layer (``arrays["query"]``/``["key"]``/``["bias"]``/``["mask"]``, those of an
    encoder-decoder model's decoder and cross attention prefixed ``decoder_``/``cross_``; ``meta["qk"][set]``
    describes them, :func:`.qk.pack`), checked to give the model's attention.
    The input is truncated to ``max_tokens`` and always to the model's own limit; a truncation is
    recorded in ``meta["truncated"] = {"from": n_before, "to": n}``.

    ``meta["word_ids"]`` gives each token's word (``None`` for special tokens; the fast tokenizer's
    ``word_ids()``, words of a pair numbered after the first sentence's; without a fast tokenizer, guessed
    from the pieces). ``generate=N`` (causal language models) first generates N tokens greedily from the
    sentence, then runs one teacher-forced pass over prompt + generated tokens; the generated tokens are
    segment 1 and ``meta["generated"] = {"prompt": n_prompt, "new": N_made, "text": ...}``.
    """
    import_libraries()  # waits for them if another thread is importing them (mkdocs serve's warm-up)
    import torch
    import transformers

    if not isinstance(text, str) or not text.strip():
        raise AttnvizError("the sentence is empty", option="text")
    if pair is not None and not pair.strip():
        pair = None
    dev = pick_device(device)
    loaded = load_model(ref, dev, trust_remote_code)
    tok, model, config = loaded.tokenizer, loaded.model, loaded.config

    limit = loaded.limit
    if max_tokens is not None:
        if int(max_tokens) < 1:
            raise AttnvizError(f"must be at least 1, got {max_tokens}", option="max_tokens")
        limit = min(int(max_tokens), limit) if limit else int(max_tokens)

    is_fast = bool(getattr(tok, "is_fast", False))
    args = (text,) if pair is None else (text, pair)
    try:
        full = tok(*args, truncation=False, verbose=False)
        original = len(full["input_ids"])
        kw: dict[str, Any] = {"return_special_tokens_mask": True, "verbose": False}
        if is_fast:
            kw["return_offsets_mapping"] = True
        if limit is not None and original > limit:
            kw.update(truncation=True, max_length=limit)
        else:
            kw["truncation"] = False
        enc = tok(*args, **kw)
    except AttnvizError:
        raise
    except Exception as exc:
        option = "max_tokens" if max_tokens is not None else "text"
        raise AttnvizError(f"the tokenizer of {ref.name!r} could not encode the sentence within "
                           f"{limit} tokens: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
                           option=option) from None
    ids: list[int] = list(enc["input_ids"])
    n = len(ids)
    if n == 0:
        raise AttnvizError(f"the tokenizer of {ref.name!r} turned the sentence into no tokens", option="text")

    tokens = [str(t) for t in tok.convert_ids_to_tokens(ids)]
    special = [bool(x) for x in enc.get("special_tokens_mask", [0] * n)]
    seq_ids: list[int | None] | None = None
    if is_fast:
        try:
            seq_ids = list(enc.sequence_ids(0))
        except Exception:
            seq_ids = None
    if seq_ids is not None:
        seq_ids = [None if special[i] else seq_ids[i] for i in range(n)]
        if pair is None:
            seq_ids = [None if s is None else 0 for s in seq_ids]
    word_ids = word_ids_from_encoding(enc, is_fast, tokens, special, seq_ids)
    if seq_ids is not None and "offset_mapping" in enc:
        labels = labels_from_offsets(tokens, special, seq_ids, [tuple(o) for o in enc["offset_mapping"]],
                                     [text] if pair is None else [text, pair])
        segments = segments_from_sequence_ids(seq_ids)
    else:
        labels = labels_from_tokens(tok, tokens, special)
        tti = enc.get("token_type_ids")
        segments = [1 if t else 0 for t in tti] if (pair is not None and tti and any(tti)) else [0] * n
        if pair is not None and not any(segments):
            # no token types: the first sentence (with its specials) is as long as it alone encodes
            try:
                n_a = len(tok(text)["input_ids"])
                n_sp_end = len(tok.build_inputs_with_special_tokens([0])) - 1
                n_a = max(0, n_a - n_sp_end + 1)
                segments = [0 if i < n_a else 1 for i in range(n)]
            except Exception:
                pass

    device_t = model.device if dev == "map" else torch.device(dev)  # a device map: inputs go where it starts
    if device_t.type == "meta":  # its first weights are offloaded (to the CPU or disk): accelerate's hooks move them
        device_t = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    generated = None
    if generate:
        ids, tokens, special, labels, segments, word_ids, generated = greedy_continuation(
            ref, loaded, dev, trust_remote_code, ids, tokens, special, labels, segments, word_ids, int(generate),
            limit, device_t)
        n = len(ids)
    inputs: dict[str, Any] = {"input_ids": torch.tensor([ids], dtype=torch.long, device=device_t),
                              "attention_mask": torch.ones((1, n), dtype=torch.long, device=device_t)}
    tti = enc.get("token_type_ids")
    runner = model.get_encoder() if loaded.encoder_decoder else model
    if tti is not None and accepts(runner, "token_type_ids") \
            and max(tti) < int(getattr(config, "type_vocab_size", 0) or 0):
        inputs["token_type_ids"] = torch.tensor([list(tti)], dtype=torch.long, device=device_t)
    if qk and n >= attention.LONG_TOKENS:
        raise AttnvizError(f"the neuron view shows inputs of up to {attention.LONG_TOKENS - 1} tokens (it keeps the "
                           f"query and key vectors of every layer); this one has {n}: shorten it or set max_tokens",
                           option="view")
    stream = n >= attention.LONG_TOKENS
    run = self_attention(ref, loaded, runner, inputs, n, qk=qk, stream=stream)
    weights = run.weights
    causal = run.checks.verify(ref.name, loaded.causal, loaded.encoder_decoder, n)

    meta: dict[str, Any] = {
        "model_type": str(getattr(config, "model_type", "") or ""),
        "num_layers": int(weights.shape[0]),
        "num_heads": int(weights.shape[1]),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "is_encoder_decoder": loaded.encoder_decoder,
    }
    if loaded.encoder_decoder:
        meta["attention"] = "encoder"
    if n < original:
        meta["truncated"] = {"from": int(original), "to": int(n)}
    meta["word_ids"] = word_ids
    if generated is not None:
        meta["generated"] = generated  # every figure of this record says so (prepare.base_notes)
    arrays: dict[str, Any] = {}
    if run.qk is not None:
        check_qk(ref, run.qk, weights)
        found, info = pack_qk(run.qk)
        arrays.update(found)
        meta["qk"] = {"encoder" if loaded.encoder_decoder else "self": info}
    if loaded.encoder_decoder and (target is not None or model.get_output_embeddings() is not None):
        dec, cross, info, found = decoder_attention(ref, loaded, inputs, n, target, max_new_tokens, qk=qk)
        arrays.update(decoder=dec, cross=cross)
        meta["decoder"] = info
        for name, (vectors, described) in found.items():
            arrays.update(vectors)  # named "<set>_query"... (qk.pack's prefix)
            meta.setdefault("qk", {})[name] = described
    return Attention(weights=weights, tokens=tokens, labels=labels, special=special, segments=segments,
                     model=ref.name, revision=ref.fingerprint, causal=causal, meta=meta, arrays=arrays)
