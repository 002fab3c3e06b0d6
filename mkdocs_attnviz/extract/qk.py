"""Query and key vectors for the neuron view: forward hooks on stock transformers modules.

:func:`capture_qk` runs a forward pass with hooks on every self-attention layer's query/key
projections (BERT-, RoBERTa-, DistilBERT- and GPT-2-style modules) and returns the vectors per layer
and head with each layer's score scale; :func:`recompute_attention` recomputes softmax(scale · q·kᵀ)
from them, the check that the captured vectors really give the model's attention. Models whose scores
are not ``scale · q·k`` (relative or rotary positions) are refused with ``option="view"``.

numpy and torch are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from ..errors import AttnvizError

__all__ = ["capture_qk", "recompute_attention"]


def _qk_sites(model: Any, config: Any) -> list[tuple[str, Any, float]]:
    """``[(style, attention module, scale)]`` per self-attention layer, in order, for the q/k hooks.

    Styles: ``"qk"`` (BERT, RoBERTa, ELECTRA...: ``query``/``key`` linear layers), ``"c_attn"`` (GPT-2:
    one projection split into q, k, v), ``"lin"`` (DistilBERT: ``q_lin``/``k_lin``). Models whose scores
    are not ``scale · q·k`` (relative or rotary positions) are refused.
    """
    if str(getattr(config, "position_embedding_type", "absolute") or "absolute") not in ("absolute",):
        raise AttnvizError("the neuron view needs plain q·k attention; this model adds relative position "
                           "scores", option="view")
    sites: list[tuple[str, Any, float]] = []
    for _name, mod in model.named_modules():
        if hasattr(mod, "query") and hasattr(mod, "key") and hasattr(mod, "num_attention_heads"):
            d = int(getattr(mod, "attention_head_size", 0) or mod.query.out_features // mod.num_attention_heads)
            sites.append(("qk", mod, float(getattr(mod, "scaling", d ** -0.5))))
        elif hasattr(mod, "c_attn") and hasattr(mod, "split_size") and not getattr(mod, "is_cross_attention", False):
            d = int(mod.head_dim)
            scale = d ** -0.5 if getattr(mod, "scale_attn_weights", True) else 1.0
            if getattr(mod, "scale_attn_by_inverse_layer_idx", False):
                scale /= float((getattr(mod, "layer_idx", None) or 0) + 1)
            sites.append(("c_attn", mod, scale))
        elif hasattr(mod, "q_lin") and hasattr(mod, "k_lin") and hasattr(mod, "n_heads"):
            d = mod.q_lin.out_features // mod.n_heads
            sites.append(("lin", mod, d ** -0.5))
    if not sites:
        raise AttnvizError(f"the neuron view supports BERT-, RoBERTa-, DistilBERT- and GPT-2-style models, not "
                           f"{getattr(config, 'model_type', type(model).__name__)!r}", option="view")
    return sites


def capture_qk(model: Any, config: Any, run: Any, num_heads: int) -> tuple[Any, Any, list[float]]:
    """Run ``run()`` with hooks on every layer's q/k projections; return q, k as (layers, heads, n, d)."""
    import numpy as np

    sites = _qk_sites(model, config)
    captured: list[dict[str, Any]] = [{} for _ in sites]
    handles = []

    def keep(i: int, what: str):
        def hook(_module, _inputs, output):
            captured[i][what] = output.detach().to("cpu", dtype=__import__("torch").float32)
        return hook

    try:
        for i, (style, mod, _scale) in enumerate(sites):
            if style == "qk":
                handles += [mod.query.register_forward_hook(keep(i, "q")), mod.key.register_forward_hook(keep(i, "k"))]
            elif style == "lin":
                handles += [mod.q_lin.register_forward_hook(keep(i, "q")), mod.k_lin.register_forward_hook(keep(i, "k"))]
            else:
                handles.append(mod.c_attn.register_forward_hook(keep(i, "qkv")))
        result = run()
    finally:
        for h in handles:
            h.remove()
    qs, ks = [], []
    for (style, mod, _scale), got in zip(sites, captured):
        if style == "c_attn":
            q, k, _v = got["qkv"].split(mod.split_size, dim=2)
        else:
            q, k = got["q"], got["k"]
        n = q.shape[1]
        qs.append(q[0].reshape(n, num_heads, -1).permute(1, 0, 2).numpy())
        ks.append(k[0].reshape(n, num_heads, -1).permute(1, 0, 2).numpy())
    return result, (np.stack(qs).astype(np.float32), np.stack(ks).astype(np.float32)), [s[2] for s in sites]


def recompute_attention(query: Any, key: Any, scales: list[float], causal: bool) -> Any:
    """softmax(scale · q·kᵀ) per layer and head (future masked when ``causal``): the check of the neuron view."""
    import numpy as np

    scores = np.einsum("lhqd,lhkd->lhqk", query.astype(np.float64), key.astype(np.float64))
    scores *= np.asarray(scales, dtype=np.float64)[:, None, None, None]
    if causal:
        n = scores.shape[-1]
        scores = np.where(np.triu(np.ones((n, n), dtype=bool), k=1), -np.inf, scores)
    scores -= scores.max(-1, keepdims=True)
    e = np.exp(scores)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)
