"""One forward pass for the attention of every layer: through our attention function where the architecture routes
through transformers' attention interface (:mod:`.interface`), else with the model's own ``output_attentions``.

:func:`self_attention` runs the encoder (or the whole model) once and returns a :class:`Run`: the weights — a
float32 (layers, heads, n, n) array, or for a long input a :class:`~mkdocs_attnviz.layers.LayerStore` filled while
the model runs — the neuron view's numbers of each layer when asked (:mod:`.qk`), and the running checks.
:func:`stack_attentions` checks and stacks what a model returned with ``output_attentions``. Failures are
:class:`~mkdocs_attnviz.errors.AttnvizError`; torch is imported inside the functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import AttnvizError
from .checks import RowChecks
from .interface import DenseSink, Recorder, capture
from .load import Loaded
from .qk import QK, capture_replay, recompute, refusal
from .resolve import ModelRef
from .stats import STATS
from .stream import StreamSink, pack_dense

__all__ = ["Run", "self_attention", "stack_attentions", "check_qk", "failure", "accepts"]


@dataclasses.dataclass
class Run:
    weights: Any  # float32 (layers, heads, n, n), or a LayerStore
    qk: list[QK] | None
    checks: RowChecks
    routed: bool  # through our attention function


def failure(ref: ModelRef, exc: BaseException, what: str, option: str = "model") -> AttnvizError:
    """A model's exception during a forward pass, as the error an author reads."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return AttnvizError(f"model {ref.name!r} failed on {what}: {type(exc).__name__}: {first}", option=option)


def stack_attentions(ref: ModelRef, attentions: Any, nq: int, nk: int, layers: int | None, what: str = "",
                     option: str = "model") -> Any:
    """What a model returned with ``output_attentions``, checked (one (1, heads, nq, nk) tensor per layer) and
    stacked as float32 numpy (layers, heads, nq, nk)."""
    import numpy as np
    import torch

    of = f"{what} " if what else ""
    if not attentions or any(a is None for a in attentions):
        raise AttnvizError(f"model {ref.name!r} returned no {of}attention weights", option=option)
    if isinstance(layers, int) and layers > 0 and len(attentions) != layers:
        raise AttnvizError(f"model {ref.name!r} returned {of}attention for {len(attentions)} layers but its config "
                           f"has {layers}", option=option)
    heads = None
    for li, a in enumerate(attentions):
        shape = tuple(a.shape)
        if len(shape) != 4 or shape[0] != 1 or shape[2:] != (nq, nk) or (heads is not None and shape[1] != heads):
            raise AttnvizError(f"model {ref.name!r} returned {of}attention of shape {shape} in layer {li}; expected "
                               f"(1, heads, {nq}, {nk})", option=option)
        heads = shape[1]
    weights = torch.stack([a[0] for a in attentions]).to(dtype=torch.float32, device="cpu").numpy()
    return np.ascontiguousarray(weights, dtype=np.float32)


def self_attention(ref: ModelRef, loaded: Loaded, runner: Any, inputs: dict[str, Any], n: int, *, qk: bool,
                   stream: bool) -> Run:
    """The attention of every layer of ``runner`` (the model, or an encoder-decoder model's encoder) on ``inputs``."""
    import torch

    config = loaded.config
    checks = RowChecks()
    sink = StreamSink(checks) if stream else DenseSink(checks)
    recorder = Recorder({"self": sink}, qk=("self",) if qk else ())
    accepts_cache = not loaded.encoder_decoder and accepts(runner, "use_cache")

    def forward(attentions: bool) -> Any:
        kw = dict(inputs, output_attentions=attentions, return_dict=True)
        if accepts_cache:
            kw["use_cache"] = False
        with torch.inference_mode():
            return runner(**kw)

    layers = getattr(config, "num_hidden_layers", None)
    found: list[QK] | None = None
    try:
        with capture(runner, recorder) as routed:
            if routed:
                forward(False)
        if routed:
            count = recorder.calls["self"]
            if count == 0:  # an architecture without attention layers (the interface was never called)
                raise _no_attention(ref, config, runner)
            if isinstance(layers, int) and layers > 0 and count != layers:
                raise AttnvizError(f"model {ref.name!r} computed attention {count} times but its config has "
                                   f"{layers} layers", option="model")
            weights = sink.store()
            found = recorder.qk.get("self")
        else:
            if qk:
                out, found = capture_replay(runner, config, lambda: forward(True))
            else:
                out = forward(True)
            attentions = getattr(out, "encoder_attentions", None) if loaded.encoder_decoder else None
            if not attentions:
                attentions = getattr(out, "attentions", None)
            if not attentions or any(a is None for a in attentions):
                raise _no_attention(ref, config, runner)
            weights = stack_attentions(ref, attentions, n, n, layers)
            for layer in weights:
                checks.rows(layer)
            if stream:
                weights = pack_dense(weights)
        STATS["forwards"] += 1
    except AttnvizError:
        raise
    except Exception as exc:
        raise failure(ref, exc, f"this sentence ({n} tokens)") from None
    if qk and found is None:
        raise AttnvizError(refusal(config), option="view")
    return Run(weights=weights, qk=found, checks=checks, routed=routed)


def _no_attention(ref: ModelRef, config: Any, runner: Any) -> AttnvizError:
    arch = str(getattr(config, "model_type", "") or type(runner).__name__)
    return AttnvizError(f"model {ref.name!r} (architecture {arch!r}) has no attention to extract: it returned no "
                        "attention weights (an architecture without attention layers, such as a state-space or RNN "
                        "model, or one that does not support eager attention)", option="model")


def check_qk(ref: ModelRef, found: list[QK], weights: Any, what: str = "") -> None:
    """The neuron view's formula, recomputed from the stored numbers, must give the model's attention."""
    import numpy as np

    if len(found) != len(weights):
        raise AttnvizError(f"model {ref.name!r}: q and k were captured for {len(found)} of {len(weights)} layers: "
                           "the neuron view cannot show it", option="view")
    for index, (layer, w) in enumerate(zip(found, weights)):
        again = recompute(layer)
        if again.shape != w.shape or float(np.abs(again - w).max()) > 1e-3:
            of = f" {what}" if what else ""
            raise AttnvizError(f"model {ref.name!r}: softmax(q·k × scale + bias) from the captured vectors does not "
                               f"give its{of} attention in layer {index}: the neuron view cannot show it",
                               option="view")


def accepts(model: Any, name: str) -> bool:
    """Whether ``model.forward`` takes an argument ``name``."""
    import inspect

    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return True
