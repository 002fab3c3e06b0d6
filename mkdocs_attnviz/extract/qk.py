"""What the neuron view draws, per layer: q, k, the scale, the soft cap, the additive bias and the mask.

:func:`layer_qk` turns what one attention call saw into a :class:`QK` (the attention function of :mod:`.interface`
calls it for every architecture that routes through transformers' attention interface, Falcon included under
transformers 5). An architecture that computes its attention in its own code and adds ALiBi is replayed instead
(:func:`capture_replay`): a hook on each attention module takes its inputs and recomputes q and k with the module's
own projection and head split (BLOOM; Falcon too, with its rotary embedding, where a transformers before 5 keeps its
attention in its own code), the ALiBi term being the bias. Any other architecture outside the
interface is refused with the reason (:func:`refusal`): DeBERTa's scores add disentangled position terms that are
not one bias per (query, key), MPNet's relative position bias is computed inside its own attention code.

:func:`recompute` computes softmax(f(q·k × scale) + bias) under the mask from the stored numbers, exactly as the
page does; the extraction checks it against the model's attention. :func:`pack` lays the layers out for the record
(``query`` (L, H, n, d), ``key`` (L, KV, n, d), ``bias`` (Lb, Hb, Qb, n) broadcast where 1, explicit masks).
numpy and torch are imported inside the functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import AttnvizError

__all__ = ["QK", "layer_qk", "describe_mask", "band", "capture_replay", "refusal", "recompute", "pack", "REPLAYED"]

#: model types whose q and k are recomputed from their attention modules' inputs (they bypass the interface)
REPLAYED = ("bloom", "falcon")


@dataclasses.dataclass
class QK:
    """One layer: q (H, nq, d), k (KV, nk, d), the scale, the soft cap, the additive bias (broadcastable
    (Hb, Qb, nk), or None) and the mask (:func:`describe_mask`; the boolean matrix in ``allowed`` when no band
    describes it)."""

    query: Any
    key: Any
    scale: float
    softcap: float | None
    bias: Any | None
    mask: dict[str, Any]
    allowed: Any | None = None


def describe_mask(allowed: Any) -> tuple[dict[str, Any], bool]:
    """A mask as the page draws it: ``{"left": a, "right": b}`` — key k is open to query q when
    ``-a ≤ k − q ≤ b`` (``None``: no bound; causal is ``right = 0``, a causal sliding window of w tokens is
    ``left = w − 1``) — and whether that band describes ``allowed`` (nq, nk) exactly."""
    import numpy as np

    a = np.asarray(allowed, dtype=bool)
    nq, nk = a.shape
    q, k = np.nonzero(a)
    if q.size == 0:
        return {"left": None, "right": None}, False
    right, left = int((k - q).max()), int((q - k).max())
    desc = {"left": None if left >= nq - 1 else left, "right": None if right >= nk - 1 else right}
    return desc, bool((band(desc, nq, nk) == a).all())


def band(desc: dict[str, Any], nq: int, nk: int) -> Any:
    """The (nq, nk) boolean mask a band (:func:`describe_mask`) opens: ``-left ≤ k − q ≤ right``."""
    import numpy as np

    offset = np.arange(nk)[None, :] - np.arange(nq)[:, None]
    out = np.ones((nq, nk), dtype=bool)
    if desc.get("right") is not None:
        out &= offset <= desc["right"]
    if desc.get("left") is not None:
        out &= offset >= -desc["left"]
    return out


def layer_qk(query: Any, key: Any, scale: float, softcap: Any, bias: Any, mask: Any) -> QK:
    """:class:`QK` from one attention call: ``query`` (1, H, nq, d) and ``key`` (1, KV, nk, d) torch tensors,
    ``bias`` (1, H|1, nq|1, nk) or None, ``mask`` the additive float mask (1, 1|H, nq, nk) or None; the finite
    part of the mask counts as bias, its -inf part as masked."""
    import numpy as np
    import torch

    nq, nk = query.shape[2], key.shape[2]
    extra = None
    if mask is None:
        allowed = np.ones((nq, nk), dtype=bool)
    else:
        if mask.dtype == torch.bool:  # open where True
            mask = torch.where(mask, 0.0, torch.finfo(torch.float32).min)
        open_ = mask[0] > torch.finfo(mask.dtype).min / 2  # masked: the lowest value of the mask's own dtype
        m = mask[0].to(torch.float32)
        if m.shape[0] > 1 and not bool((open_ == open_[:1]).all()):
            raise AttnvizError("this model masks each head differently: the neuron view cannot show it",
                               option="view")
        allowed = open_[0].expand(nq, nk).cpu().numpy()
        extra = torch.where(open_, m, torch.zeros_like(m))
    total = None
    for term in (bias, extra):
        if term is not None:
            t = (term[0] if term.dim() == 4 else term).to(torch.float32)
            total = t if total is None else total + t
    compact = None
    if total is not None and bool((total != 0).any()):
        b = np.array(total.cpu().numpy(), dtype=np.float32)
        b = np.where(allowed[None] if b.shape[-2] == nq else True, b, np.float32(0.0))
        if b.shape[0] > 1 and np.array_equal(b, np.broadcast_to(b[:1], b.shape)):
            b = b[:1]
        if b.shape[1] > 1 and np.array_equal(b, np.broadcast_to(b[:, :1], b.shape)):
            b = b[:, :1]
        compact = np.ascontiguousarray(b, dtype=np.float32)
    desc, exact = describe_mask(allowed)
    return QK(query=query[0].detach().to("cpu", torch.float32).numpy(),
              key=_distinct_heads(key[0].detach().to("cpu", torch.float32).numpy()), scale=float(scale),
              softcap=None if softcap is None else float(softcap), bias=compact, mask=desc,
              allowed=None if exact else allowed)


def _distinct_heads(k: Any) -> Any:
    """Keys as the model shares them: (H, n, d) keys that repeat each of KV heads H/KV times become (KV, n, d)."""
    import numpy as np

    heads = k.shape[0]
    for kv in range(1, heads):
        if heads % kv == 0 and np.array_equal(np.repeat(k[::heads // kv], heads // kv, axis=0), k):
            return np.ascontiguousarray(k[::heads // kv])
    return k


def refusal(config: Any) -> str:
    """Why the neuron view cannot show a model that computes its attention outside transformers' interface."""
    kind = str(getattr(config, "model_type", "") or "")
    if kind.startswith("deberta"):
        return (f"the neuron view cannot show {kind!r}: DeBERTa's scores add disentangled content-to-position and "
                "position-to-content terms to q·k, which are not one bias per query and key")
    return (f"the neuron view cannot show {kind!r}: it computes its attention in its own code, not through "
            "transformers' attention interface, so its query and key vectors cannot be captured")


def capture_replay(model: Any, config: Any, run: Any) -> tuple[Any, list[QK]]:
    """Run ``run()`` with a hook on every attention module of a BLOOM or Falcon model; return its result and the
    :class:`QK` of every layer."""
    import torch

    kind = str(getattr(config, "model_type", "") or "")
    if kind not in REPLAYED:
        raise AttnvizError(refusal(config), option="view")
    found: list[QK] = []

    def hook(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        fused = module.query_key_value(hidden)
        alibi, mask = kwargs.get("alibi"), kwargs.get("attention_mask")
        if kind == "bloom":
            q, k, _v = module._reshape(fused)
            H = q.shape[1]
            bias = None if alibi is None else (alibi.view(1, H, 1, -1) * module.beta)
            found.append(layer_qk(q, k, module.inv_norm_factor, None, bias, mask))
            return
        from transformers.models.falcon.modeling_falcon import apply_rotary_pos_emb

        q, k, _v = module._split_heads(fused)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        H = q.shape[1]
        if alibi is None:
            cos, sin = kwargs["position_embeddings"]
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            found.append(layer_qk(q, k, 1.0 / module.head_dim ** 0.5, None, None, mask))
        else:
            bias = alibi.view(1, H, 1, -1) * module.inv_norm_factor
            found.append(layer_qk(q, k, module.inv_norm_factor, None, bias, mask))

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for _n, m in model.named_modules()
               if hasattr(m, "query_key_value") and (hasattr(m, "_reshape") or hasattr(m, "_split_heads"))]
    try:
        with torch.inference_mode():
            result = run()
    finally:
        for h in handles:
            h.remove()
    return result, found


def _allowed(layer: QK, nq: int, nk: int) -> Any:
    import numpy as np

    if layer.allowed is not None:
        return np.asarray(layer.allowed, dtype=bool)
    return band(layer.mask, nq, nk)


def recompute(layer: QK) -> Any:
    """softmax(f(q·k × scale) + bias) under the mask, (H, nq, nk) float32, f the soft cap (or none): the page's
    formula, from the stored numbers only."""
    import numpy as np

    q, k = np.asarray(layer.query, np.float64), np.asarray(layer.key, np.float64)
    H, KV = q.shape[0], k.shape[0]
    k = np.repeat(k, H // KV, axis=0)
    scores = np.einsum("hqd,hkd->hqk", q, k) * layer.scale
    if layer.softcap:
        scores = np.tanh(scores / layer.softcap) * layer.softcap
    if layer.bias is not None:
        scores = scores + np.asarray(layer.bias, np.float64)
    allowed = _allowed(layer, q.shape[1], k.shape[1])
    scores = np.where(allowed[None], scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    return (e / np.maximum(e.sum(-1, keepdims=True), 1e-300)).astype(np.float32)


def pack(layers: list[QK], prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays (``query``, ``key``, ``bias``, ``mask``, each name after ``prefix``) and the description (scale,
    soft cap, heads, key/value heads, masks, bias shape) of every layer, for the record."""
    import numpy as np

    arrays: dict[str, Any] = {f"{prefix}query": np.stack([x.query for x in layers]).astype(np.float32),
                              f"{prefix}key": np.stack([x.key for x in layers]).astype(np.float32)}
    info: dict[str, Any] = {"scale": [x.scale for x in layers], "heads": int(layers[0].query.shape[0]),
                            "kv_heads": int(layers[0].key.shape[0]),
                            "softcap": [x.softcap for x in layers] if any(x.softcap for x in layers) else None,
                            "masks": [], "bias": None}
    if any(x.query.shape[0] != info["heads"] or x.key.shape[0] != info["kv_heads"] for x in layers):
        raise AttnvizError("the layers of this model have different numbers of heads: the neuron view cannot show it",
                           option="view")
    explicit = []
    for x in layers:
        if x.allowed is not None:
            info["masks"].append({"explicit": len(explicit)})
            explicit.append(np.asarray(x.allowed, dtype=np.uint8))
        else:
            info["masks"].append(x.mask)
    if explicit:
        arrays[f"{prefix}mask"] = np.stack(explicit)
    if any(x.bias is not None for x in layers):
        nk = layers[0].key.shape[1]
        shapes = {x.bias.shape[:2] for x in layers if x.bias is not None}
        hb = max(s[0] for s in shapes)
        qb = max(s[1] for s in shapes)
        full = np.zeros((len(layers), hb, qb, nk), dtype=np.float32)
        for i, x in enumerate(layers):
            if x.bias is not None:
                full[i] = np.broadcast_to(x.bias, (hb, qb, nk))
        if all(np.array_equal(full[0], f) for f in full[1:]):
            full = full[:1]
        arrays[f"{prefix}bias"] = full
        info["bias"] = list(full.shape)
    return arrays, info
