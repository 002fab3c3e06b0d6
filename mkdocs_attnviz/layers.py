"""The attention of a long input, one layer at a time: :class:`LayerStore`.

From :data:`mkdocs_attnviz.attention.LONG_TOKENS` tokens on, a record does not hold its weights as one float32
array (12 layers × 12 heads × 8,192² tokens would be 38 GB): each layer is kept as ``H + 2`` zlib-compressed
matrices of ``uint8`` — every head, then the mean and the max over the heads — each ``floor(w · 255 + ½)`` of
shape (n, n) in C order (a weight read back as ``q / 255`` is within 1/510). The extraction writes them while the
model runs (:mod:`mkdocs_attnviz.extract.stream`), the cache stores them one file per layer, and the heatmap's
page publishes them as they are, one side file per layer and head (the page inflates them with the browser's own
``DecompressionStream``). A layer is read and inflated only when something asks for it.

Pure numpy and zlib.
"""

from __future__ import annotations

import zlib
from typing import Callable

from .lazy import np

from .errors import AttnvizError

__all__ = ["LayerStore", "SELECTIONS", "selection_index", "pool_max", "quantize_rows"]

#: the matrices of a layer after its heads, in order
SELECTIONS = ("mean", "max")


def selection_index(sel: int | str, num_heads: int) -> int:
    """Position of head ``sel`` (an index, ``"mean"`` or ``"max"``) among a layer's matrices."""
    if isinstance(sel, str):
        return num_heads + SELECTIONS.index(sel)
    if not 0 <= int(sel) < num_heads:
        raise IndexError(f"head {sel} of {num_heads}")
    return int(sel)


def quantize_rows(w: np.ndarray) -> np.ndarray:
    """``floor(w · 255 + ½)`` as ``uint8`` (the quantisation of a long record; ``w`` in [0, 1])."""
    return np.floor(np.asarray(w, dtype=np.float32) * np.float32(255.0) + np.float32(0.5)).clip(0, 255).astype(np.uint8)


def pool_max(m: np.ndarray, factor: int) -> np.ndarray:
    """The largest value of each ``factor × factor`` block of ``m`` (the last blocks may be smaller)."""
    if factor <= 1:
        return m
    n0, n1 = m.shape
    p0, p1 = -(-n0 // factor) * factor, -(-n1 // factor) * factor
    padded = np.zeros((p0, p1), dtype=m.dtype)
    padded[:n0, :n1] = m
    return padded.reshape(p0 // factor, factor, p1 // factor, factor).max(axis=(1, 3))


class LayerStore:
    """``(layers, heads, n, n)`` attention kept as compressed ``uint8`` matrices, one layer read at a time.

    ``load(layer)`` returns the layer's ``H + 2`` zlib blobs (heads, mean, max). Indexing (``store[layer]``) gives
    that layer's heads as float32 (heads, n, n); the whole array is never made: ``numpy.asarray(store)`` raises."""

    ndim = 4

    @property
    def dtype(self):
        return np.dtype(np.float32)

    def __init__(self, shape: tuple[int, int, int, int], load: Callable[[int], list[bytes]]) -> None:
        self.shape = tuple(int(x) for x in shape)
        self._load = load
        self._last: tuple[int, list[bytes]] | None = None

    @property
    def num_layers(self) -> int:
        return self.shape[0]

    @property
    def num_heads(self) -> int:
        return self.shape[1]

    def blobs(self, layer: int) -> list[bytes]:
        """The ``H + 2`` compressed matrices of ``layer`` (heads, mean, max)."""
        if self._last is None or self._last[0] != layer:
            blobs = self._load(int(layer))
            if len(blobs) != self.num_heads + len(SELECTIONS):
                raise AttnvizError(f"layer {layer} holds {len(blobs)} matrices, expected "
                                   f"{self.num_heads + len(SELECTIONS)}")
            self._last = (int(layer), blobs)
        return self._last[1]

    def blob(self, layer: int, sel: int | str) -> bytes:
        return self.blobs(layer)[selection_index(sel, self.num_heads)]

    def matrix(self, layer: int, sel: int | str) -> np.ndarray:
        """The ``uint8`` (n, n) matrix of one head (or the mean / max over the heads) of ``layer``."""
        n = self.shape[2]
        raw = zlib.decompress(self.blob(layer, sel))
        return np.frombuffer(raw, dtype=np.uint8).reshape(n, self.shape[3])

    def __getitem__(self, layer: int) -> np.ndarray:
        if not isinstance(layer, (int, np.integer)):
            raise TypeError("a LayerStore is read one layer at a time")
        return np.stack([self.matrix(int(layer), h) for h in range(self.num_heads)]).astype(np.float32) / 255.0

    def __len__(self) -> int:
        return self.num_layers

    def __array__(self, *args, **kwargs):
        raise AttnvizError(f"the attention of {self.shape[2]} tokens is read one layer at a time: this figure "
                           "cannot use it whole", option="view")
