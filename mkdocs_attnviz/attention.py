"""The record that flows through the pipeline: the attention of every layer and head for one input.

Pure numpy; produced by :mod:`mkdocs_attnviz.extract`, stored by :mod:`mkdocs_attnviz.cache`, read by
:mod:`mkdocs_attnviz.prepare` and the views.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Attention", "CONTINUATION", "SPACE_LABEL", "LONG_TOKENS"]

#: label prefix of a token that adds no new character (the second piece of a split character, e.g. ``·今``)
CONTINUATION = "·"
#: label of a token that covers only whitespace
SPACE_LABEL = "␣"
#: from this many tokens on, a model's attention is kept one layer at a time, quantised and compressed
#: (:class:`mkdocs_attnviz.layers.LayerStore`), and the heatmap's page loads each layer and head from a side file;
#: read at call time (``attention.LONG_TOKENS``), so that a test can lower it
LONG_TOKENS = 1024


@dataclasses.dataclass
class Attention:
    """All layers × heads of attention for one (model, revision, text, pair).

    ``weights[l, h, q, k]`` is the weight query token ``q`` gives key token ``k`` in layer ``l``,
    head ``h`` (float32; rows sum to 1).
    """

    weights: Any  # float32 numpy (layers, heads, n, n); a long input's: a LayerStore (read a layer at a time)
    tokens: list[str]  # raw tokens as the tokenizer gives them (e.g. "##ing", "Ġthe")
    labels: list[str]  # cleaned labels for display (e.g. "ing", "the")
    special: list[bool]  # True for special tokens ([CLS], [SEP], <s>, ...)
    segments: list[int]  # 0 for the sentence, 1 for the pair sentence
    model: str  # the model name as written in the directive
    revision: str  # the resolved revision or weights fingerprint
    causal: bool = False
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # model type, versions, truncation...
    #: further named arrays: ``decoder`` (layers, heads, T, T) and ``cross`` (layers, heads, T, n) of an
    #: encoder-decoder model (their tokens in ``meta["decoder"]``); for the neuron view ``query`` (layers, heads, n,
    #: d), ``key`` (layers, key/value heads, n, d), ``bias`` and ``mask`` (and the same prefixed ``decoder_`` /
    #: ``cross_``), described by ``meta["qk"][set]`` (scale, soft cap, heads, masks: :func:`.extract.qk.pack`)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def layered(self) -> bool:
        """The weights are kept one layer at a time (a long input), not as one array."""
        import numpy as np  # not on import: a warm build reads attention.LONG_TOKENS and never a record

        return not isinstance(self.weights, np.ndarray)

    @property
    def num_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.weights.shape[1])

    @property
    def num_tokens(self) -> int:
        return int(self.weights.shape[2])
