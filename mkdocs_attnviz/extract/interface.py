"""Capture through transformers' attention interface: one attention function for every architecture that routes
its attention through ``AttentionInterface`` (Llama, Mistral, Qwen, Gemma, Phi, GPT-NeoX, OPT, ModernBERT, T5,
BART, BERT, GPT-2...).

:func:`register` adds our function under :data:`NAME` (with transformers' eager mask builder, so the mask arrives
as an additive float tensor), and :func:`capture` runs a forward pass with it. The function computes exactly what
the eager implementation computes — q·kᵀ × scaling, the soft cap (Gemma 2), the additive position bias (T5), the
mask, softmax in float32, grouped-query attention (a key/value head shared by ``H / KV`` query heads) — but in
chunks of query rows, only over the key columns the mask leaves open (a causal or sliding-window layer never
computes its masked future), and hands each chunk of weights to a :class:`Sink` instead of returning them to the
model: the caller keeps every layer (:class:`DenseSink`) or quantises and compresses each chunk as it comes
(:class:`mkdocs_attnviz.extract.stream.StreamSink`), so memory is the model plus about one chunk.

With ``qk`` it also keeps, per layer, what the neuron view draws: q (after rotary embeddings), k (before the
grouped-query repeat), the scale, the soft cap, the additive bias and the mask (:func:`.qk.layer_qk`). torch is
imported inside the functions.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Protocol

from ..errors import AttnvizError
from .checks import RowChecks
from .qk import QK, layer_qk

__all__ = ["NAME", "register", "capture", "Sink", "DenseSink", "Recorder", "CHUNK_ELEMENTS"]

#: the name our attention function is registered under
NAME = "attnviz"
#: scores computed at once: query rows per chunk = CHUNK_ELEMENTS // (heads × keys)
CHUNK_ELEMENTS = 1 << 22
#: cross-attention modules, by the name their model gives them
_CROSS_NAMES = ("encoder_attn", "EncDecAttention", "crossattention", "cross_attn")
_STATE = threading.local()


class Sink(Protocol):
    """Where the weights of one attention set go, a chunk of query rows at a time."""

    def begin(self, index: int, heads: int, nq: int, nk: int) -> None: ...

    def rows(self, r0: int, c0: int, weights: Any) -> None:
        """``weights``: (heads, rows, columns) float32 torch tensor for query rows ``r0...`` and key columns
        ``c0...``; the key columns outside it are masked (weight 0)."""

    def end(self) -> None: ...


class DenseSink:
    """Keeps every layer as a float32 numpy array (heads, nq, nk)."""

    def __init__(self, checks: RowChecks | None = None) -> None:
        self.layers: list[Any] = []
        self.checks = checks or RowChecks()

    def begin(self, index: int, heads: int, nq: int, nk: int) -> None:
        import numpy as np

        self.layers.append(np.zeros((heads, nq, nk), dtype=np.float32))

    def rows(self, r0: int, c0: int, weights: Any) -> None:
        w = weights.detach().to("cpu").numpy()
        self.checks.rows(w, r0, c0)
        self.layers[-1][:, r0:r0 + w.shape[1], c0:c0 + w.shape[2]] = w

    def end(self) -> None:
        pass

    def store(self) -> Any:
        """Every layer, as one float32 array (layers, heads, nq, nk)."""
        import numpy as np

        return np.stack(self.layers)


class Recorder:
    """Routes each call of the attention function to the sink of its attention set (``self``, or ``decoder`` and
    ``cross`` in a decoder pass), counting layers per set; with ``qk``, keeps :class:`QK` per layer of those sets."""

    def __init__(self, sinks: dict[str, Sink], *, qk: tuple[str, ...] = (), decoder: bool = False) -> None:
        self.sinks = sinks
        self.qk_sets = set(qk)
        self.decoder = decoder
        self.names: dict[int, str] = {}  # module id -> its name in the model (set by capture)
        self.calls: dict[str, int] = {name: 0 for name in sinks}
        self.qk: dict[str, list[QK]] = {name: [] for name in qk}

    def role(self, module: Any) -> str:
        """The attention set a module's call belongs to: the one set, or (a decoder pass) ``decoder``, ``cross``
        or ``encoder`` (not recorded), from the module's name in the model."""
        if not self.decoder:
            return next(iter(self.sinks))
        name = self.names.get(id(module), "")
        if getattr(module, "is_cross_attention", False) or any(part in name for part in _CROSS_NAMES):
            return "cross"
        return "decoder" if "decoder" in name else "encoder"


def register() -> None:
    """Register our attention function and transformers' eager mask under :data:`NAME` (once per process)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, eager_mask)


@contextlib.contextmanager
def capture(model: Any, recorder: Recorder) -> Iterator[bool]:
    """Run the body with ``model`` computing its attention through our function into ``recorder``; yields whether
    the model routes through the interface (if not, nothing is recorded and the model runs as before)."""
    register()
    previous = getattr(model.config, "_attn_implementation", None) or "eager"
    can = False
    try:
        can = bool(type(model)._can_set_attn_implementation())
    except Exception:  # pragma: no cover - a transformers without the heuristic
        can = False
    if can:
        try:
            model.set_attn_implementation(NAME)
        except Exception:
            can = False
        can = can and getattr(model.config, "_attn_implementation", None) == NAME
    recorder.names = {id(m): name for name, m in model.named_modules()}
    _STATE.recorder = recorder if can else None
    try:
        yield can
    finally:
        _STATE.recorder = None
        if can:
            model.set_attn_implementation(previous)


def _attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
               dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """The eager attention, chunk by chunk, weights to the recorder's sink (see the module docstring)."""
    import torch

    recorder: Recorder | None = getattr(_STATE, "recorder", None)
    if kwargs.get("s_aux") is not None:
        raise AttnvizError("this model adds attention sinks (s_aux) to the softmax, so its attention rows do not sum "
                           "to 1: attnviz cannot show it yet", option="model")
    B, H, nq, d = query.shape
    KV, nk = key.shape[1], key.shape[2]
    if B != 1 or H % KV:
        raise AttnvizError(f"unexpected attention shapes: query {tuple(query.shape)}, key {tuple(key.shape)}",
                           option="model")
    group = H // KV
    scale = float(scaling) if scaling is not None else d ** -0.5
    softcap = kwargs.get("softcap")
    bias = kwargs.get("position_bias")
    mask = attention_mask
    if mask is not None and mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=query.dtype, device=query.device).masked_fill_(
            ~mask, torch.finfo(query.dtype).min)
    role = recorder.role(module) if recorder is not None else "self"
    sink = recorder.sinks.get(role) if recorder is not None else None
    if sink is not None:
        sink.begin(recorder.calls[role], H, nq, nk)
        recorder.calls[role] += 1
    keys = key.repeat_interleave(group, dim=1) if group > 1 else key
    values = value.repeat_interleave(group, dim=1) if group > 1 else value
    out = torch.empty((B, H, nq, value.shape[-1]), dtype=query.dtype, device=query.device)
    threshold = torch.finfo(mask.dtype).min / 2 if mask is not None else 0.0  # masked: the dtype's lowest value
    rows = max(1, CHUNK_ELEMENTS // max(1, H * nk))
    for r0 in range(0, nq, rows):
        r1 = min(nq, r0 + rows)
        c0, c1 = 0, nk
        part = None if mask is None else _rows(mask, r0, r1)
        if part is not None:
            open_cols = (part > threshold).any(dim=0).any(dim=0).nonzero()
            if open_cols.numel():
                c0, c1 = int(open_cols[0]), int(open_cols[-1]) + 1
        scores = torch.matmul(query[0, :, r0:r1], keys[0, :, c0:c1].transpose(1, 2)) * scale
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        if bias is not None:
            scores = scores + _rows(bias, r0, r1)[:, :, c0:c1]
        if part is not None:
            scores = scores + part[:, :, c0:c1]
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        out[0, :, r0:r1] = torch.matmul(weights, values[0, :, c0:c1])
        if sink is not None:
            sink.rows(r0, c0, weights)
    if sink is not None:
        sink.end()
    if recorder is not None and role in recorder.qk_sets:
        recorder.qk[role].append(layer_qk(query, key, scale, softcap, bias, mask))
    return out.transpose(1, 2).contiguous(), None


def _rows(t: Any, r0: int, r1: int) -> Any:
    """Query rows r0..r1 of a (1, heads or 1, queries or 1, keys) mask or bias (a broadcast axis stays whole)."""
    return t[0] if t.shape[2] == 1 else t[0, :, r0:r1]
