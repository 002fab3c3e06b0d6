"""Quick previews for ``mkdocs serve``: a sentence the cache lacks, run by onnxruntime from a float32 ONNX export of
the model kept on this machine, so that a writer's edit does not wait for torch and transformers to import.

Where and what
--------------
A preview is a folder ``<store>/<key>/`` (the store is this machine's, never a project's: the caller passes
``state_dir()/previews``): ``model.onnx`` (float32, one output ``attentions`` of shape (layers, heads, n, n): the
live export of :mod:`.onnx_export` without its 8-bit step), ``tokenizer.json`` (the fast tokenizer's backend as
transformers configured it) and ``preview.json`` (the manifest, written last: a folder without it is not a preview).
The key (:func:`preview_key`) is the weights' fingerprint, the exporter's versions and :data:`PREVIEW_FORMAT`: other
weights, another preview. It is written whole (a temporary folder renamed into place) or not at all, and replaces
the previews of the same model name or weights (one a model, not one per upgrade).

Made by :func:`export` in the background of a ``mkdocs serve`` that has loaded the model with PyTorch, once per
machine and weights; kept only when its attention is within :data:`~.onnx_export.FLOAT_BOUND` (half a step of a
page's packed weights) of transformers' eager attention on :data:`~.onnx_export.PROBES`, and when the saved
tokenizer gives transformers' token ids on them (else no preview: the writer's edits wait for PyTorch as before).

Which figures
-------------
:meth:`Previews.accepts`: a model with a preview here, the sentence (and pair) alone — no query/key vectors, no
generated continuation, no decoder target — within the model's length, ``max_tokens`` and
:data:`~mkdocs_attnviz.attention.LONG_TOKENS` (nothing truncated, nothing streamed). The record is built as
:func:`~.forward.extract` builds it from a fast tokenizer (:mod:`.tokens`), checked like it (finite, rows summing
to 1, the future masked for a decoder) and says ``meta["engine"] = "onnxruntime"``. The build keys it apart from
PyTorch's (:class:`~mkdocs_attnviz.keys.Keys`): ``mkdocs build`` never publishes a preview.

Imports onnxruntime, tokenizers and numpy when a preview is loaded or run; never torch or transformers (but
:func:`export`, which runs beside a loaded model).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from .. import attention
from ..attention import Attention
from ..cache import digest
from ..errors import AttnvizError
from . import onnx_export
from .checks import RowChecks
from .resolve import ModelRef
from .tokens import labels_from_offsets, segments_from_sequence_ids, word_ids_from_encoding

__all__ = ["PREVIEW_FORMAT", "MANIFEST", "preview_key", "Previews", "export", "previewable", "check_tokenizer",
           "forget_older", "STALE_SECONDS"]

#: bump when what a preview holds or means changes
PREVIEW_FORMAT = 1
#: the manifest, written last
MANIFEST = "preview.json"
#: the only inputs a previewed figure may have (anything else its extraction needs comes from PyTorch)
PLAIN_INPUTS = frozenset({"text", "pair", "max_tokens", "model", "revision"})
def preview_key(ref: ModelRef) -> str:
    """The key of ``ref``'s preview: its weights' fingerprint, the exporter's versions and the format."""
    return digest({"kind": "preview", "format": PREVIEW_FORMAT, "fingerprint": ref.fingerprint,
                   "revision": ref.revision, "versions": onnx_export.exporter_versions()})


def previewable(ref: ModelRef) -> bool:
    """Whether ``ref`` can have a preview at all: a resolved Hugging Face folder or snapshot (not a GGUF file, not a
    hub name whose weights this machine has not seen)."""
    return bool(ref.pinned) and not ref.gguf


class _Words:
    """A tokenizers ``Encoding`` as :func:`~.tokens.word_ids_from_encoding` reads a fast tokenizer's output."""

    def __init__(self, words: list[int | None]) -> None:
        self._words = words

    def word_ids(self, index: int = 0) -> list[int | None]:
        return self._words


def _tokenizer(path: Path) -> Any:
    """A saved fast tokenizer, as transformers runs it on one sentence: no truncation, no padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class _Loaded:
    """One preview, read: its manifest, tokenizer and (once a sentence runs) onnxruntime session."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.tokenizer = _tokenizer(folder / "tokenizer.json")
        self._session: Any = None
        self._opening = threading.Lock()  # the warm-up opens it while an edit may already need it: once

    @property
    def session(self) -> Any:
        with self._opening:
            if self._session is None:
                self._session = onnx_export.session(self.folder / "model.onnx")
        return self._session

    def encode(self, text: str, pair: str | None) -> Any:
        return self.tokenizer.encode(text, pair)


class Previews:
    """The previews of this machine (``folder``), read once per process. :attr:`active`: whether a build may use
    them now (``mkdocs serve`` turns it off once PyTorch has the models: exact figures cost little from then on)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.active = True
        self._lock = threading.Lock()
        self._loaded: dict[str, _Loaded | None] = {}
        self._counts: dict[tuple, int] = {}  # tokens of a sentence (accepts is asked once per key of a figure)

    def any(self) -> bool:
        """Whether this machine has any preview (a first ``mkdocs serve`` has none: it imports PyTorch at once)."""
        try:
            return any((entry / MANIFEST).is_file() for entry in self.folder.iterdir())
        except OSError:
            return False

    def has(self, ref: ModelRef) -> bool:
        return previewable(ref) and (self.folder / preview_key(ref) / MANIFEST).is_file()

    def get(self, ref: ModelRef) -> _Loaded | None:
        """``ref``'s preview, read (None: there is none, or it cannot be read here: onnxruntime or tokenizers
        missing, a damaged folder)."""
        if not previewable(ref) or importlib.util.find_spec("onnxruntime") is None:
            return None
        key = preview_key(ref)
        with self._lock:
            if key not in self._loaded:
                folder = self.folder / key
                try:
                    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
                    if manifest.get("fingerprint") != ref.fingerprint:
                        raise ValueError("another model's preview")
                    self._loaded[key] = _Loaded(folder, manifest)
                except Exception:  # noqa: BLE001 - unreadable, damaged, or no onnxruntime: PyTorch runs it
                    self._loaded[key] = None
            return self._loaded[key]

    def forget(self, ref: ModelRef) -> None:
        """Use no preview of ``ref`` in this process (it failed)."""
        with self._lock:
            self._loaded[preview_key(ref)] = None

    def load(self, refs: list[ModelRef]) -> list[ModelRef]:
        """Read the previews of ``refs`` and start their sessions now (``mkdocs serve``'s warm-up); the refs that
        have one."""
        ready = []
        for ref in refs:
            got = self.get(ref)
            if got is not None:
                try:
                    got.session  # noqa: B018 - loads the model file
                except Exception:  # noqa: BLE001 - a damaged file: no preview
                    self.forget(ref)
                    continue
                ready.append(ref)
        return ready

    def accepts(self, ref: ModelRef, inputs: dict[str, Any]) -> bool:
        """Whether the extraction ``inputs`` (:func:`~mkdocs_attnviz.keys.extraction_inputs`) of ``ref`` can be
        previewed: see the module."""
        if not self.active or any(v not in (None, False) for k, v in inputs.items() if k not in PLAIN_INPUTS):
            return False
        got = self.get(ref)
        if got is None or not isinstance(inputs.get("text"), str) or not inputs["text"].strip():
            return False
        pair = inputs.get("pair") or None
        counted = (preview_key(ref), inputs["text"], pair)
        n = self._counts.get(counted)
        if n is None:
            n = self._counts[counted] = len(got.encode(inputs["text"], pair).ids)
        limit = min(int(got.manifest["max_tokens"]), int(inputs.get("max_tokens") or attention.LONG_TOKENS))
        return 0 < n <= limit and n < attention.LONG_TOKENS

    def attention(self, ref: ModelRef, text: str, pair: str | None = None) -> Attention:
        """The attention of ``ref`` on ``text`` (and ``pair``), run by onnxruntime (see :meth:`accepts`)."""
        import numpy as np

        got = self.get(ref)
        if got is None:
            raise AttnvizError(f"model {ref.name!r} has no preview on this machine", option="model")
        pair = pair or None
        manifest = got.manifest
        enc = got.encode(text, pair)
        n = len(enc.ids)
        feed = onnx_export.feed(enc, manifest["inputs"])
        weights = np.ascontiguousarray(onnx_export.attentions_onnx(got.session, feed), dtype=np.float32)
        if weights.shape != (manifest["layers"], manifest["heads"], n, n):
            raise AttnvizError(f"the preview of {ref.name!r} gave attentions of shape {weights.shape}",
                               option="model")
        checks = RowChecks()
        for layer in weights:
            checks.rows(layer)
        causal = checks.verify(ref.name, bool(manifest["causal"]), False, n)

        tokens = [str(got.tokenizer.id_to_token(i)) for i in enc.ids]
        special = [bool(x) for x in enc.special_tokens_mask]
        seq_ids = [None if special[i] else enc.sequence_ids[i] for i in range(n)]
        if pair is None:
            seq_ids = [None if s is None else 0 for s in seq_ids]
        word_ids = word_ids_from_encoding(_Words(list(enc.word_ids)), True, tokens, special, seq_ids)
        labels = labels_from_offsets(tokens, special, seq_ids, [tuple(o) for o in enc.offsets],
                                     [text] if pair is None else [text, pair])
        meta: dict[str, Any] = {"model_type": manifest.get("model_type", ""), "num_layers": int(weights.shape[0]),
                                "num_heads": int(weights.shape[1]), "is_encoder_decoder": False,
                                "engine": "onnxruntime", "onnxruntime": onnx_export.exporter_versions()["onnxruntime"],
                                "preview": {"max_delta": manifest["measured"], "bound": manifest["bound"]},
                                "word_ids": word_ids}
        return Attention(weights=weights, tokens=tokens, labels=labels, special=special,
                         segments=segments_from_sequence_ids(seq_ids), model=ref.name, revision=ref.fingerprint,
                         causal=causal, meta=meta)


def export(loaded: Any, ref: ModelRef, store: str | os.PathLike) -> dict[str, Any]:
    """Export ``loaded`` (the model of ``ref``, loaded by PyTorch on the CPU) as a preview into ``store`` (see the
    module); its manifest. Raises :class:`AttnvizError` when it cannot be exported, is not within the bound, or its
    tokenizer cannot be saved as one that gives transformers' ids."""
    if not previewable(ref) or loaded.encoder_decoder:
        raise AttnvizError(f"model {ref.name!r} cannot have a preview (a GGUF file, an unresolved hub name or an "
                           "encoder–decoder model)", option="model")
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    key = preview_key(ref)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=store))
    try:
        done = onnx_export.export(loaded, ref.name, tmp, [], quantise=False)
        check_tokenizer(loaded.tokenizer, tmp / "tokenizer.json", ref.name)
        manifest = {"format": PREVIEW_FORMAT, "model": ref.name, "fingerprint": ref.fingerprint,
                    "model_type": str(getattr(loaded.config, "model_type", "") or ""), "layers": done.layers,
                    "heads": done.heads, "max_tokens": done.max_tokens, "inputs": done.inputs, "causal": done.causal,
                    "bound": done.bound, "measured": round(done.measured, 8), "versions": done.versions}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, store / key)  # whole or not at all; another process's same preview stays
        except OSError:
            if not (store / key / MANIFEST).is_file():
                raise
        forget_older(store, key, manifest)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: a temporary export folder this old is left over by a process that stopped (seconds)
STALE_SECONDS = 3600


def forget_older(store: Path, key: str, made: dict[str, Any]) -> None:
    """Delete the previews ``made`` replaces — the same model name or the same weights under another key (other
    exporter versions, changed weights) — and temporary folders an hour old: one preview a model, not one per
    upgrade (each is the size of the weights)."""
    import time

    for entry in store.iterdir():
        if entry.name == key:
            continue
        try:
            if entry.name.startswith("."):
                if time.time() - entry.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            other = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if other.get("model") == made["model"] or other.get("fingerprint") == made["fingerprint"]:
            shutil.rmtree(entry, ignore_errors=True)


def check_tokenizer(tokenizer: Any, saved: Path, name: str) -> None:
    """The saved backend gives the ids transformers' tokenizer gives, on the probes alone and as a pair."""
    backend = _tokenizer(saved)
    for text, pair in [(p, None) for p in onnx_export.PROBES] + [onnx_export.PROBES[:2]]:
        want = list(tokenizer(text, pair)["input_ids"] if pair else tokenizer(text)["input_ids"])
        if list(backend.encode(text, pair).ids) != want:
            raise AttnvizError(f"the tokenizer of {name!r} saved for previews gives other tokens than transformers "
                               f"on {text!r}", option="model")
