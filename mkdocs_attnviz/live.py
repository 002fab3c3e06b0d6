"""Live figures (the ``live`` option): the reader's own sentence, run in the reader's browser.

At build time a figure's model is exported once (per weights, exporter versions and quantisation recipe: the
*live key*) into the cache — ``model.onnx`` with one output, ``attentions`` (layers, heads, n, n), its weights 8-bit
where that keeps the figure within :data:`~mkdocs_attnviz.extract.onnx_export.INT8_BOUND` of the PyTorch model on
the author's sentence, ``tokenizer.json`` and ``live.json`` (the manifest: bound, measured difference, layers,
heads, special tokens, each file's size and sha256) — see :mod:`mkdocs_attnviz.extract.onnx_export`. A build
publishes them under ``live/<key>/`` next to the figure pages, and the runtime once under ``runtime/``:
onnxruntime-web's WASM build and the browser bundle of ``@huggingface/tokenizers``, vendored in the package at the
versions ``package.json`` pins (:data:`RUNTIME`), each with its licence. Nothing is fetched from elsewhere.

A figure page names both in its payload (:class:`~mkdocs_attnviz.contract.LiveInfo`); ``templates/attnviz-live.js``
loads them only when the reader asks. A warm build finds the export in the cache and imports no torch, onnx or
onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .cache import Cache, digest
from .errors import AttnvizError
from .files import write_if_changed
from .i18n import N_
from .logs import logger as log

if TYPE_CHECKING:
    from .extract import ModelRef

__all__ = ["check", "REFUSALS", "refusal", "LIVE_INLINE", "LIVE_SPHINX", "host_reason", "LIVE_FORMAT", "LIVE_DIR",
           "RUNTIME_DIR", "RUNTIME", "VENDOR_DIR", "live_key", "ensure", "manifest_url", "runtime_url", "publish",
           "runtime_files"]

#: bump when the export's recipe (inputs, output, quantisation) or the manifest's meaning changes
LIVE_FORMAT = 3
#: where the exports go, next to the figure pages
LIVE_DIR = "live"
#: where the runtime goes, next to the figure pages
RUNTIME_DIR = "runtime"
#: the vendored runtime: file name in the site → (npm package, its file); package.json pins the same versions
RUNTIME = {
    "ort.wasm.bundle.min.mjs": ("onnxruntime-web", "dist/ort.wasm.bundle.min.mjs"),
    "ort-wasm-simd-threaded.wasm": ("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm"),
    "tokenizers.min.mjs": ("@huggingface/tokenizers", "dist/tokenizers.min.mjs"),
}
#: the licences published beside the runtime (vendored with it)
RUNTIME_LICENSES = ("LICENSE.onnxruntime-web.txt", "LICENSE.huggingface-tokenizers.txt")
VENDOR_DIR = Path(__file__).parent / "vendor" / "runtime"
#: why a page that carries everything in itself (``resources = "inline"``) cannot go live
LIVE_INLINE = N_("This page carries its figures inside itself: the model it would run is not published with it, so "
                 "it cannot run your sentence.")
#: why a figure cannot show the reader's sentence (its reason in the page, and the build's warning in English)
REFUSALS = {
    "view": N_("This view cannot show another sentence (live figures: heatmap, bars, heads and model views)."),
    "pair": N_("A figure of a sentence pair cannot show another sentence."),
    "transform": N_("This figure transforms the attention (words, rollout or flow, special tokens hidden): it cannot "
                    "show another sentence."),
    "generate": N_("A figure with generated text cannot show another sentence."),
    "long": N_("A figure of a long input cannot show another sentence."),
}
#: why a Sphinx page cannot go live: its figures are rendered by several processes and published without the model
LIVE_SPHINX = N_("This site's builder (Sphinx) does not publish the model with its figures yet, so this page cannot "
                 "run your sentence.")
def live_key(ref: ModelRef) -> str:
    """The key of ``ref``'s export: its weights' fingerprint, the exporter's versions and the recipe."""
    from .extract import onnx_export  # its recipe and versions only: torch and onnx are imported by export()

    return digest({"kind": "live", "format": LIVE_FORMAT, "fingerprint": ref.fingerprint, "revision": ref.revision,
                   "versions": onnx_export.exporter_versions(), "recipe": onnx_export.recipe()})


def refusal(spec: Any, view: Any, record: Any) -> str | None:
    """Why the figure of ``spec`` (drawn by ``view`` from ``record``) cannot show the reader's sentence: a key of
    :data:`REFUSALS`, or None. The page runs one sentence through the model and draws its raw attention."""
    if not getattr(view, "live", False):
        return "view"
    if spec.pair is not None:
        return "pair"
    if spec.granularity != "token" or spec.aggregate != "none" or spec.special_tokens != "show":
        return "transform"
    if spec.generate is not None or record.meta.get("is_encoder_decoder"):
        return "generate"
    if getattr(record, "layered", False):
        return "long"
    return None


def host_reason(settings: Any) -> str | None:
    """Why no figure of this site can go live (a message to translate), or None: pages that carry everything in
    themselves (``resources = "inline"``, Zensical, notebooks) have no folder to publish the model into, and Sphinx
    does not publish it yet."""
    if settings.resources == "inline" or settings.host in ("zensical", "notebook"):
        return LIVE_INLINE
    if settings.host == "sphinx":
        return LIVE_SPHINX
    return None


def manifest_url(key: str) -> str:
    """The manifest's URL relative to a figure page."""
    return f"{LIVE_DIR}/{key}/live.json"


def runtime_url() -> str:
    """The runtime folder's URL relative to a figure page (ending in ``/``)."""
    return f"{RUNTIME_DIR}/"


def ensure(cache: Cache, ref: ModelRef, sentences: list[tuple[str, str | None]], *, device: str = "cpu",
           trust_remote_code: bool = False, cache_only: bool = False) -> str:
    """The live key of ``ref``, its export in ``cache`` (exported now if missing, checked on ``sentences``: the
    author's). Raises :class:`AttnvizError` (option ``live``)."""
    key = live_key(ref)
    if cache.get_live(key) is not None:
        return key
    if cache_only:
        raise AttnvizError("the model's export for live figures is not in the cache and cache_only is on: build "
                           "once with cache_only off", option="live", kind="cache")
    if ref.gguf:
        raise AttnvizError(f"model {ref.name!r} is a GGUF file: live figures export Hugging Face model folders "
                           "(the BERT family) only", option="live")
    import tempfile

    from .extract import load as loading
    from .extract import onnx_export

    loaded = loading.load_model(ref, loading.pick_device("cpu"), trust_remote_code)
    log.info("attnviz: exporting %s for live figures", ref.name)
    with tempfile.TemporaryDirectory(prefix="attnviz-live-") as tmp:
        done = onnx_export.export(loaded, ref.name, Path(tmp), sentences)
        files = {name: (Path(tmp) / name).read_bytes() for name in ("model.onnx", "tokenizer.json")}
    manifest = {"version": 1, "model": ref.name, "quant": done.quant, "bound": done.bound,
                "measured": round(done.measured, 6), "layers": done.layers, "heads": done.heads,
                "max_tokens": done.max_tokens, "inputs": done.inputs, "output": "attentions",
                "special": done.special, "causal": done.causal, "tokenizer_config": done.tokenizer_config}
    cache.put_live(key, files, manifest)
    log.info("attnviz: %s exported for live figures (%s, max |Δ| %.4f ≤ %.4f)", ref.name, done.quant, done.measured,
             done.bound)
    return key


#: float16 rounding of the cached attention a figure is drawn from (values ≤ 1: half a unit in the last place, 2⁻¹¹)
CACHED_ROUNDING = 2 ** -11


def check(cache: Cache, key: str, record: Any, text: str, pair: str | None, sessions: dict) -> float | None:
    """Run the export ``key`` on this figure's sentence (tokenized by the export's own ``tokenizer.json``, as the
    browser does) and compare it with the figure's attention (``record``: the model's eager attention, as cached).
    Returns the max |Δ|, or None where it cannot be compared (onnxruntime or tokenizers not installed: a build from a
    committed cache; a truncated input). Raises :class:`AttnvizError` (option ``live``) beyond the export's bound.
    ``sessions``: the build's sessions by key, reused across figures."""
    try:
        import numpy as np
        import onnxruntime  # noqa: F401 - onnx_export.session runs on it
        from tokenizers import Tokenizer
    except ImportError:
        return None
    from .extract import onnx_export

    if key not in sessions:
        files = cache.get_live(key)
        if files is None:
            raise AttnvizError(f"the live export {key} disappeared from the cache during the build", option="live")
        sessions[key] = (manifest(files), Tokenizer.from_str(files["tokenizer.json"].decode("utf-8")),
                         onnx_export.session(files["model.onnx"]))
    meta, tokenizer, session = sessions[key]
    enc = tokenizer.encode(text, pair) if pair is not None else tokenizer.encode(text)
    feed = onnx_export.feed(enc, meta["inputs"])
    want = np.asarray(record.weights, dtype=np.float32)
    if want.shape[-1] != len(enc.ids):  # truncated by max_tokens: another input than the sentence
        return None
    got = session.run([meta["output"]], feed)[0]
    worst = float(np.abs(got - want).max())
    if worst > meta["bound"] + CACHED_ROUNDING:
        raise AttnvizError(f"the model's export for live figures differs from the model by {worst:.4f} on this "
                           f"sentence (allowed: {meta['bound']:.4f}): it cannot go live", option="live")
    return worst


def runtime_files() -> dict[str, Path]:
    """The vendored runtime and its licences: name in the site → file in the package."""
    return {name: VENDOR_DIR / name for name in (*RUNTIME, *RUNTIME_LICENSES)}


def publish(out_dir: Path, keys: Iterable[str], cache: Cache) -> list[Path]:
    """Write the exports ``keys`` (``live/<key>/``) and the runtime (``runtime/``) into ``out_dir``."""
    written: list[Path] = []
    keys = sorted(set(keys))
    for key in keys:
        files = cache.get_live(key)
        if files is None:  # vanished since the figure was built: a clear error, never a box that fails later
            raise AttnvizError(f"the live export {key} disappeared from the cache during the build", option="live")
        folder = out_dir / LIVE_DIR / key
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            written.append(write_if_changed(folder / name, body))
    if keys:
        (out_dir / RUNTIME_DIR).mkdir(parents=True, exist_ok=True)
        for name, path in runtime_files().items():
            written.append(write_if_changed(out_dir / RUNTIME_DIR / name, path.read_bytes()))
    return written


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest of an export read from the cache (:meth:`~mkdocs_attnviz.cache.Cache.get_live`)."""
    return json.loads(files["live.json"].decode("utf-8"))
