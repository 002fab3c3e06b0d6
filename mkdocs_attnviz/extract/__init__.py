"""Run a Hugging Face model on a sentence and return the attention of every layer and head.

Two steps:

* :func:`resolve_model` turns what the author wrote (``model="..."``, ``revision="..."``) into a
  :class:`ModelRef`: a hub id or a local folder, checked, with a *fingerprint* of the weights that
  the cache can key on. It never imports torch or transformers (a warm build that only reads the
  attention cache must stay fast).
* :func:`extract` loads the model (once per process), tokenizes, runs one forward pass with eager
  attention and returns an :class:`~mkdocs_attnviz.attention.Attention`.

torch and transformers are imported lazily, inside the functions that need them; importing this
package imports neither.

Every failure a site owner or author can cause (unknown model, no network, revision not found,
folder without ``config.json``, corrupted weights, remote code, a model that returns no attention)
is raised as :class:`~mkdocs_attnviz.errors.AttnvizError` with ``option="model"`` (or
``"revision"``, ``"max_tokens"``, ``"device"``), never as a bare traceback.

Modules, by concern (data flows down the list; none imports one above it):

* :mod:`.forward` — :func:`extract`: tokenize, run, check, build the record;
* :mod:`.generate` — ``generate=``: greedy continuation by a causal language model;
* :mod:`.seq2seq` — encoder–decoder models: decoder and cross attention;
* :mod:`.run` — one forward pass: through our attention function, or the model's own ``output_attentions``;
* :mod:`.interface` — our attention function in transformers' ``AttentionInterface``: chunked, to sinks;
* :mod:`.stream` — long inputs: each layer quantised and compressed while the model runs;
* :mod:`.qk` — what the neuron view draws (q, k, scale, soft cap, bias, mask), BLOOM replayed, refusals;
* :mod:`.checks` — finite weights, rows summing to 1, the future masked;
* :mod:`.tokens` — display labels, segments and word ids of the tokens;
* :mod:`.load` — device choice, loading once per process, :func:`clear_models`, loader errors;
* :mod:`.progress` — quieting Hugging Face progress output while loading;
* :mod:`.resolve` — :func:`resolve_model`, :class:`ModelRef`, weight fingerprints, the file-hash memo;
* :mod:`.stats` — :data:`STATS`, the counters every module updates.
"""

from __future__ import annotations

from typing import Any

from .resolve import ModelRef, fingerprint_weights, load_hash_memo, model_folder, resolve_model, save_hash_memo
from .stats import STATS

#: imported on first use: resolving names and fingerprints (every build) needs none of the model code
_LATER = {"extract": "forward", "clear_models": "load", "preload": "load", "import_libraries": "load"}


def __getattr__(name: str) -> Any:
    if name in _LATER:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LATER[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ModelRef", "resolve_model", "model_folder", "fingerprint_weights", "extract", "clear_models", "preload",
           "import_libraries", "STATS", "load_hash_memo", "save_hash_memo"]
