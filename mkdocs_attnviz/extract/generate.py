"""``generate=``: greedy continuation of the sentence by a causal language model.

:func:`greedy_continuation` generates N tokens after the prompt (no sampling, one beam:
deterministic) with the model's language-model head, loaded once per process beside the base model,
and returns the prompt's token records extended by the generated tokens (segment 1, labels and word
ids from the pieces) for the one teacher-forced pass the forward pass then runs. Failures are
:class:`~mkdocs_attnviz.errors.AttnvizError` with ``option="generate"``. torch and transformers are
imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from ..errors import AttnvizError
from .load import Loaded, eager_float32_kwargs, from_pretrained, kept_model
from .progress import quiet_progress
from .resolve import ModelRef
from .tokens import labels_from_tokens, word_ids_from_tokens

__all__ = ["greedy_continuation"]


def greedy_continuation(ref: ModelRef, loaded: Loaded, dev: str, trust_remote_code: bool, ids: list[int],
                        tokens: list[str], special: list[bool], labels: list[str], segments: list[int],
                        word_ids: list[int | None], count: int, limit: int | None, device_t: Any) -> tuple:
    """Greedy generation of ``count`` tokens after the prompt (no sampling, one beam: deterministic)."""
    import torch

    if loaded.encoder_decoder:
        raise AttnvizError(f"model {ref.name!r} is an encoder-decoder model: its decoder generates with "
                           "max_new_tokens= (or takes target=); generate= is for causal language models",
                           option="generate")
    if not loaded.causal:
        raise AttnvizError(f"model {ref.name!r} is not a causal language model (it sees the whole sentence at "
                           "once), so it cannot continue the text: generate= needs a decoder such as GPT-2",
                           option="generate")
    if limit is not None and len(ids) + count > limit:
        raise AttnvizError(f"the prompt has {len(ids)} tokens and the model's limit is {limit}: at most "
                           f"{max(0, limit - len(ids))} tokens can be generated, not {count}", option="generate")
    lm = _load_causal_lm(ref, loaded, dev, trust_remote_code)
    tok = loaded.tokenizer
    eos = getattr(loaded.config, "eos_token_id", None)
    pad = getattr(tok, "pad_token_id", None)
    pad = pad if pad is not None else (eos if isinstance(eos, int) else 0)
    try:
        with torch.inference_mode():
            out = lm.generate(input_ids=torch.tensor([ids], dtype=torch.long, device=device_t),
                              attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device_t),
                              max_new_tokens=count, min_new_tokens=1, do_sample=False, num_beams=1,
                              pad_token_id=pad)
    except Exception as exc:
        raise AttnvizError(f"greedy generation with model {ref.name!r} failed: {type(exc).__name__}: {exc}",
                           option="generate") from None
    new = [int(x) for x in out[0].tolist()[len(ids):]]
    if not new:
        raise AttnvizError(f"model {ref.name!r} generated no token", option="generate")
    new_tokens = [str(t) for t in tok.convert_ids_to_tokens(new)]
    specials = set(getattr(tok, "all_special_ids", []) or [])
    new_special = [i in specials for i in new]
    new_labels = labels_from_tokens(tok, new_tokens, new_special)
    last_word = next((w for w in reversed(word_ids) if w is not None), None)
    start = (max((w for w in word_ids if w is not None), default=-1)) + 1
    new_words = word_ids_from_tokens(new_tokens, new_special, start=start,
                                     previous=last_word if word_ids and word_ids[-1] is not None else None)
    try:
        text = tok.decode(new, skip_special_tokens=False)
    except Exception:
        text = "".join(new_labels)
    info = {"prompt": len(ids), "new": len(new), "text": text, "asked": count}
    return (ids + new, tokens + new_tokens, special + new_special, labels + new_labels,
            [0] * len(ids) + [1] * len(new), word_ids + new_words, info)


def _load_causal_lm(ref: ModelRef, loaded: Loaded, dev: str, trust_remote_code: bool) -> Any:
    """The model with its language-model head (for generate=), loaded once per process beside the base model."""
    if loaded.lm is not None:  # loaded whole already (a GGUF file)
        return loaded.lm
    key = (ref.source, ref.revision, dev, bool(trust_remote_code), "causal-lm")
    return kept_model(key, ref.fingerprint, lambda: _load_lm_head(ref, loaded, dev, trust_remote_code)).model


def _load_lm_head(ref: ModelRef, loaded: Loaded, dev: str, trust_remote_code: bool) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM

    kw = eager_float32_kwargs(loaded.config, dev)
    with quiet_progress():
        try:
            lm = from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, **kw)
        except Exception as exc:
            raise AttnvizError(f"model {ref.name!r} has no language-model head to generate with "
                               f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                               option="generate") from None
    if dev != "map":
        lm = lm.to(device=dev, dtype=torch.float32)
    lm.eval()
    return Loaded(tokenizer=loaded.tokenizer, model=lm, config=loaded.config, device=dev, causal=True,
                  encoder_decoder=False, limit=loaded.limit, fingerprint=ref.fingerprint)
