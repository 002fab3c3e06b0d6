"""Small, pure-numpy operations on attention weights.

* :func:`hide_special` drops the rows and columns of special tokens and renormalises each remaining
  row to sum to 1 (a row whose remaining weights are all zero stays zero).
* :func:`head_matrix` picks one head of one layer, or the mean / max over the heads.
* :func:`quantize` / :func:`dequantize` turn weights in [0, 1] into ``uint8`` (``round(w * 255)``) and
  back; the round trip is exact to within ``1/510``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .attention import Attention
from .errors import AttnvizError

__all__ = ["hide_special", "head_matrix", "quantize", "dequantize"]


def hide_special(att: Attention) -> Attention:
    """The same attention without the special tokens, each remaining row renormalised to sum to 1.

    Raises :class:`AttnvizError` when every token is special (nothing would be left to show).
    """
    keep = np.array([not s for s in att.special], dtype=bool)
    if keep.size != att.num_tokens:
        raise AttnvizError(f"{keep.size} special flags for {att.num_tokens} tokens")
    if keep.all():
        return att
    if not keep.any():
        raise AttnvizError("every token is a special token: nothing is left to show once they are hidden",
                           option="special_tokens")
    idx = np.flatnonzero(keep)
    w = np.asarray(att.weights, dtype=np.float32)[:, :, idx][:, :, :, idx].astype(np.float64)
    sums = w.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(sums > 0, w / np.where(sums > 0, sums, 1.0), 0.0)
    pick = idx.tolist()
    meta = dict(att.meta)
    meta["special_tokens_hidden"] = True
    return dataclasses.replace(
        att,
        weights=w.astype(np.float32),
        tokens=[att.tokens[i] for i in pick],
        labels=[att.labels[i] for i in pick],
        special=[False] * len(pick),
        segments=[att.segments[i] for i in pick],
        meta=meta,
    )


def head_matrix(weights_layer: np.ndarray, head: int | str) -> np.ndarray:
    """One ``(n, n)`` matrix from the ``(heads, n, n)`` weights of a layer: a head, ``'mean'`` or ``'max'``."""
    w = np.asarray(weights_layer)
    if w.ndim != 3:
        raise ValueError(f"expected (heads, n, n) weights, got shape {w.shape}")
    if head == "mean":
        return w.mean(axis=0, dtype=np.float64).astype(np.float32)
    if head == "max":
        return w.max(axis=0).astype(np.float32)
    if isinstance(head, str):
        raise ValueError(f"head must be an index, 'mean' or 'max', not {head!r}")
    return np.asarray(w[int(head)], dtype=np.float32)


def quantize(weights: np.ndarray) -> np.ndarray:
    """``round(w * 255)`` clipped to 0..255, as ``uint8`` (NaN becomes 0)."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(w * 255.0), 0, 255).astype(np.uint8)


def dequantize(q: np.ndarray) -> np.ndarray:
    """Back from :func:`quantize` to float32 in [0, 1]."""
    return np.asarray(q, dtype=np.float32) / np.float32(255.0)
