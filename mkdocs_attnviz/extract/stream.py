"""Long inputs: each layer's attention quantised and compressed while the model runs.

:class:`StreamSink` receives the weights of one layer a chunk of query rows at a time (from the attention function
of :mod:`.interface`) and feeds them, as ``uint8`` (:func:`mkdocs_attnviz.layers.quantize_rows`), into one zlib
stream per head and two more for the mean and the max over the heads; a finished layer is ``H + 2`` compressed
blobs (the layout of :class:`mkdocs_attnviz.layers.LayerStore`). At no time does it hold more than one chunk in
float32. :func:`pack_dense` gives a model that returned its attention whole (no attention interface) the same form.
torch is imported inside the methods.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..layers import LayerStore, quantize_rows
from .checks import RowChecks

__all__ = ["StreamSink", "pack_dense", "LEVEL"]

#: zlib level of the streamed matrices (mostly zeros in a long causal input: level 1 is fast and small)
LEVEL = 1


class StreamSink:
    """Quantises and compresses each layer as it is computed (see the module docstring)."""

    def __init__(self, checks: RowChecks | None = None) -> None:
        self.layers: list[list[bytes]] = []
        self.checks = checks or RowChecks()
        self._streams: list[Any] = []
        self._parts: list[list[bytes]] = []
        self._shape = (0, 0, 0)

    def begin(self, index: int, heads: int, nq: int, nk: int) -> None:
        self._shape = (heads, nq, nk)
        self._streams = [zlib.compressobj(LEVEL) for _ in range(heads + 2)]
        self._parts = [[] for _ in range(heads + 2)]

    def rows(self, r0: int, c0: int, weights: Any) -> None:
        import torch

        heads, _, nk = self._shape
        self.checks.rows(weights, r0, c0)
        r, c = weights.shape[1], weights.shape[2]
        w = weights.detach().to(dtype=torch.float32)  # quantised where it was computed (a GPU too), then moved
        full = torch.zeros((heads + 2, r, nk), dtype=torch.uint8, device=w.device)
        full[heads, :, c0:c0 + c] = w.mean(0).mul_(255.0).add_(0.5).to(torch.uint8)
        full[:heads, :, c0:c0 + c] = w.mul(255.0).add_(0.5).to(torch.uint8)
        full[heads + 1, :, c0:c0 + c] = full[:heads, :, c0:c0 + c].amax(0)
        data = full.cpu().numpy()
        for i, stream in enumerate(self._streams):
            self._parts[i].append(stream.compress(data[i].tobytes()))

    def end(self) -> None:
        self.layers.append([b"".join(parts) + stream.flush() for parts, stream in zip(self._parts, self._streams)])
        self._streams, self._parts = [], []

    def store(self) -> LayerStore:
        heads, nq, nk = self._shape
        layers = self.layers
        return LayerStore((len(layers), heads, nq, nk), lambda layer: layers[layer])


def pack_dense(weights: np.ndarray) -> LayerStore:
    """A whole (layers, heads, n, n) float array in the form of a streamed record."""
    layers = []
    for w in weights:
        q = quantize_rows(w)
        mean = quantize_rows(np.asarray(w, dtype=np.float32).mean(0))
        mats = list(q) + [mean, q.max(0)]
        layers.append([zlib.compress(np.ascontiguousarray(m).tobytes(), LEVEL) for m in mats])
    shape = tuple(weights.shape)
    return LayerStore(shape, lambda layer: layers[layer])  # type: ignore[arg-type]
