"""A model exported to ONNX with its attentions, for figures that run in the reader's browser (``live``).

The graph takes ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` when the model takes them), int64 of
shape ``(1, n)``, and gives ONE output, ``attentions``: float32 ``(layers, heads, n, n)``, the per-layer attention
of transformers' eager implementation stacked (the batch dimension dropped). It is exported with
``torch.onnx.export`` (the dynamo exporter: the legacy tracer bakes the sentence's length into the mask), then its
weights are made 8-bit where that keeps the figure faithful:

* every ``MatMul`` with a constant weight but the query and key projections: onnxruntime's weight-only quantiser
  (``MatMulNBits``, 8 bits, blocks of :data:`BLOCK` along the input dimension, asymmetric); activations stay
  float32. The query and key projections are kept out of 8 bits (:func:`_query_key_matmuls` finds them), stored as
  float16 and widened to float32 (:func:`_half`): the softmax of their product is where 8-bit weights move the
  attention most, and a reader's sentence is never checked — with them in 8 bits, MiniLM's attention moved by
  0.0227 on a sentence with accents, ``[UNK]`` and CJK (0.0179 with them float32, 0.0177 float16);
* the token embedding table (the largest weight of a small encoder): 8 bits per block of :data:`EMBEDDING_BLOCK`
  values of each row, dequantised after the lookup with standard ONNX operators (``Gather`` + ``Mul``); smaller
  tables (positions) as float16. onnxruntime's
  quantisers offer this table only per tensor (``quantize_dynamic``: one scale for the whole table, max |Δ| 0.03–0.05
  on MiniLM's attention) or in 4 bits.

``quantize_dynamic`` (8-bit activations too) moves MiniLM's attention by up to 0.35 and is not used.

The export is checked against the eager PyTorch model on the author's sentence and :data:`PROBES`: the 8-bit file
is kept when its max |Δ| is within :data:`INT8_BOUND`, else the float32 file when within :data:`FLOAT_BOUND` (one
8-bit step of the page's packed weights), else the export is refused. Imports torch, onnx and onnxruntime: only
when an export runs.
"""

from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import AttnvizError

__all__ = ["recipe", "INT8_BOUND", "FLOAT_BOUND", "BLOCK", "Exported", "export", "attentions_onnx", "eager_attentions",
           "encode", "EXPORTERS", "exporter_versions", "session", "feed"]

#: max |Δ| between the 8-bit file's attention and eager PyTorch's on the author's sentence
INT8_BOUND = 0.02
#: max |Δ| of the float32 file: one step of the page's packed weights (``round(w * 255)``), half of it either way
FLOAT_BOUND = 1 / 510
#: quantisation block (values sharing one scale and zero point)
BLOCK = 16
#: block of the token embedding table (its scales and shifts are float16)
EMBEDDING_BLOCK = 64
#: an embedding table larger than this many values is stored in 8 bits
EMBEDDING_VALUES = 1_000_000
#: a smaller table of at least this many values (position embeddings) is stored as float16
HALF_VALUES = 100_000
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: sentences every export is also checked on, beside the author's: a reader types anything, so the bound must hold
#: beyond the author's sentence (capitals and accents, a character the vocabulary lacks, CJK, digits and
#: punctuation, a longer sentence)
PROBES = ("Ça coûte 5 €, n'est-ce PAS? Señor Müller ☃ 日本語.", "東京 is the capital of Japan.",
          "In 1998, 42 people (approx.) walked 3.5 km!", "Attention is all you need, they said; was it?",
          "The quick brown fox jumps over the lazy dog near the riverbank at dawn, while the birds sing.")


@dataclass
class Exported:
    """What :func:`export` wrote into its folder and measured."""

    quant: str  # "int8" or "float32"
    bound: float
    measured: float  # max |Δ| of the file kept, on the sentences checked
    measured_int8: float | None  # the 8-bit file's, also when it was not kept
    layers: int
    heads: int
    max_tokens: int
    inputs: list[str]
    special: dict[str, Any]
    causal: bool
    versions: dict[str, str] = field(default_factory=dict)
    tokenizer_config: dict[str, Any] = field(default_factory=dict)  # what the browser's Tokenizer takes beside it


def recipe() -> dict[str, Any]:
    """What makes an export besides the weights and the exporter's versions (part of the live key)."""
    return {"int8": INT8_BOUND, "float32": FLOAT_BOUND, "block": BLOCK, "embedding_block": EMBEDDING_BLOCK,
            "embedding_values": EMBEDDING_VALUES, "inputs": list(INPUTS), "output": "attentions",
            "probes": list(PROBES), "float16": ["query and key projections", "position embeddings"],
            "half_values": HALF_VALUES, "tokenizer": "compact"}


def _wrapper(model: Any, inputs: Sequence[str]) -> Any:
    import torch

    class Attentions(torch.nn.Module):
        """The model with one output: its attentions stacked, (layers, heads, n, n)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None) -> Any:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            kw = {k: given[k] for k in inputs}
            out = self.model(**kw, output_attentions=True, use_cache=False) if _takes(model, "use_cache") \
                else self.model(**kw, output_attentions=True)
            return torch.stack(tuple(out.attentions), 0)[:, 0]

    return Attentions().eval()


def _takes(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def encode(tokenizer: Any, text: str, pair: str | None, inputs: Sequence[str]) -> dict[str, Any]:
    """The model's inputs for one sentence (and pair), as int64 numpy arrays of shape (1, n)."""
    import numpy as np

    enc = tokenizer(text, pair, return_tensors="np") if pair else tokenizer(text, return_tensors="np")
    return {name: np.asarray(enc[name], dtype=np.int64) for name in inputs}


def eager_attentions(wrapper: Any, feed: dict[str, Any]) -> Any:
    """transformers' eager attention for ``feed``: float32 (layers, heads, n, n)."""
    import torch

    with torch.no_grad():
        return wrapper(**{k: torch.from_numpy(v) for k, v in feed.items()}).float().numpy()


def attentions_onnx(session: Any, feed: dict[str, Any]) -> Any:
    """The exported file's attention for ``feed`` (an onnxruntime session)."""
    return session.run(["attentions"], feed)[0]


def _model_inputs(tokenizer: Any, model: Any) -> list[str]:
    names = list(getattr(tokenizer, "model_input_names", None) or ["input_ids", "attention_mask"])
    return [n for n in INPUTS if n in names and _takes(model, n)] or ["input_ids"]


def _max_tokens(tokenizer: Any, config: Any) -> int:
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in limits if isinstance(x, int) and 2 <= x <= 1_000_000]
    return min(limits + [2048])


def _special(tokenizer: Any) -> dict[str, Any]:
    """How the build marks and labels special tokens: the ids the tokenizer calls special (its
    ``special_tokens_mask``), their strings, and the label conventions of the figures (``extract.tokens``)."""
    from ..attention import CONTINUATION, SPACE_LABEL
    from ..toolkit.page import TICK_CHARS

    ids = sorted({int(i) for i in getattr(tokenizer, "all_special_ids", []) if i is not None})
    tokens = [tokenizer.convert_ids_to_tokens(i) for i in ids]
    return {"ids": ids, "tokens": tokens, "continuation": CONTINUATION, "space": SPACE_LABEL,
            "tick_chars": TICK_CHARS}


#: tokenizer_config.json keys that never travel to the page: file names and paths of the build machine, code
_CONFIG_DROPPED = ("name_or_path", "tokenizer_file", "vocab_file", "merges_file", "auto_map", "processor_class")


def _tokenizer_config(tokenizer: Any, folder: Path) -> dict[str, Any]:
    """The tokenizer's configuration as ``save_pretrained`` writes it, less what names files (the browser's
    ``Tokenizer(tokenizer.json, config)`` reads its flags: lower-casing, special tokens)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tokenizer.save_pretrained(tmp)
        path = Path(tmp) / "tokenizer_config.json"
        config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {k: v for k, v in config.items() if k not in _CONFIG_DROPPED and not k.endswith(("_path", "_file"))}


def _quantize_embeddings(model: Any) -> None:
    """Each large ``Gather`` table (token embeddings) as int8 blocks of :data:`EMBEDDING_BLOCK` values with a float16
    scale and shift per block, dequantised after the lookup (standard operators only)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    for node in list(graph.node):
        if node.op_type != "Gather" or node.input[0] not in inits:
            continue
        table = numpy_helper.to_array(inits[node.input[0]])
        if (table.ndim != 2 or table.size < EMBEDDING_VALUES or table.shape[1] % EMBEDDING_BLOCK
                or table.dtype != np.float32):
            continue
        rows, dim = table.shape
        block = EMBEDDING_BLOCK
        blocks = table.reshape(rows, dim // block, block)
        lo, hi = blocks.min(axis=2), blocks.max(axis=2)
        scale = np.where(hi > lo, (hi - lo) / 255, 1).astype(np.float16).astype(np.float32)
        zero = np.round(-lo / scale) - 128  # value = q * scale + shift, shift = -zero * scale
        shift = (-zero * scale).astype(np.float16)
        # q chosen against the float16 shift actually stored
        q = np.round((blocks - shift.astype(np.float32)[..., None]) / scale[..., None])
        q = np.clip(q, -128, 127).astype(np.int8)
        base = node.input[0]
        graph.initializer.remove(inits[base])
        graph.initializer.extend([numpy_helper.from_array(q.reshape(rows, dim), base + "_q8"),
                                  numpy_helper.from_array(scale.astype(np.float16), base + "_scale"),
                                  numpy_helper.from_array(shift, base + "_shift"),
                                  numpy_helper.from_array(np.array([-1, dim // block, block], np.int64),
                                                          base + "_blocks"),
                                  numpy_helper.from_array(np.array([-1, dim // block, 1], np.int64),
                                                          base + "_per_block"),
                                  numpy_helper.from_array(np.array([dim], np.int64), base + "_dim")])
        out, ids, name = node.output[0], node.input[1], node.name or base
        new = [  # the rows of the ids (any shape) → (rows, blocks, BLOCK) · scale + shift → ids' shape + (dim,)
            helper.make_node("Gather", [base + "_q8", ids], [out + "_q8"], axis=0, name=name + "_q8"),
            helper.make_node("Cast", [out + "_q8"], [out + "_qf"], to=1, name=name + "_cast"),
            helper.make_node("Reshape", [out + "_qf", base + "_blocks"], [out + "_qb"], name=name + "_blocks"),
            helper.make_node("Gather", [base + "_scale", ids], [out + "_s"], axis=0, name=name + "_scale"),
            helper.make_node("Gather", [base + "_shift", ids], [out + "_z"], axis=0, name=name + "_shift"),
            helper.make_node("Cast", [out + "_s"], [out + "_sf"], to=1, name=name + "_scale_f"),
            helper.make_node("Cast", [out + "_z"], [out + "_zf"], to=1, name=name + "_shift_f"),
            helper.make_node("Reshape", [out + "_sf", base + "_per_block"], [out + "_s1"], name=name + "_s1"),
            helper.make_node("Reshape", [out + "_zf", base + "_per_block"], [out + "_z1"], name=name + "_z1"),
            helper.make_node("Mul", [out + "_qb", out + "_s1"], [out + "_m"], name=name + "_mul"),
            helper.make_node("Add", [out + "_m", out + "_z1"], [out + "_a"], name=name + "_add"),
            helper.make_node("Shape", [ids], [out + "_ids"], name=name + "_ids"),
            helper.make_node("Concat", [out + "_ids", base + "_dim"], [out + "_shape"], axis=0, name=name + "_shape"),
            helper.make_node("Reshape", [out + "_a", out + "_shape"], [out], name=name + "_rows"),
        ]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for i, n in enumerate(new):
            graph.node.insert(at + i, n)


def _scrub(path: Path) -> None:
    """Drop what the exporter notes about the Python it traced (stack traces naming this machine's files, names of
    source modules) from every node, value and graph of the file: a published file names no path of the build."""
    import onnx

    model = onnx.load(str(path))

    def clean(graph: Any) -> None:
        graph.doc_string = ""
        del graph.metadata_props[:]
        for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
            value.doc_string = ""
            del value.metadata_props[:]
        for node in graph.node:
            node.doc_string = ""
            del node.metadata_props[:]
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    clean(attr.g)
                for sub in attr.graphs:
                    clean(sub)

    model.doc_string = ""
    del model.metadata_props[:]
    clean(model.graph)
    for function in model.functions:
        function.doc_string = ""
        del function.metadata_props[:]
        for node in function.node:
            node.doc_string = ""
            del node.metadata_props[:]
    onnx.save(model, str(path))


def _query_key_matmuls(graph: Any) -> list[list[str]]:
    """Per layer (in graph order), the names of the MatMuls with a constant weight that project the queries and the
    keys: found walking up from both inputs of each MatMul of two computed inputs that leads to a Softmax."""
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constant = ({i.name for i in graph.initializer}
                | {o for n in graph.node if n.op_type == "Constant" for o in n.output})

    def weighted(node: Any) -> bool:
        return node.op_type == "MatMul" and any(i in constant for i in node.input)

    def to_softmax(node: Any, depth: int = 0) -> bool:
        if depth > 4:
            return False
        return any(c.op_type == "Softmax" or to_softmax(c, depth + 1)
                   for out in node.output for c in consumers.get(out, ()))

    def projection(name: str, depth: int = 0) -> str | None:
        node = producer.get(name)
        if node is None or depth > 8:
            return None
        if weighted(node):
            return node.name
        for i in node.input:
            if i not in constant:
                found = projection(i, depth + 1)
                if found:
                    return found
        return None

    out = []
    for node in graph.node:
        if node.op_type == "MatMul" and not weighted(node) and to_softmax(node):
            found = [projection(i) for i in node.input]
            out.append([f for f in found if f])
    return out


def _quantize(src: Path, dst: Path, keep: Sequence[str] = ()) -> None:
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    model = onnx.load(str(src))
    _quantize_embeddings(model)
    quiet = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # one INFO line per node otherwise
    try:
        quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=list(keep), algo_config=DefaultWeightOnlyQuantConfig(
            block_size=BLOCK, is_symmetric=False, bits=8))
        quantizer.process()
    finally:
        quiet.setLevel(level)
    model = quantizer.model.model
    inits = {init.name: init for init in model.graph.initializer}
    tables = [node.name for node in model.graph.node  # the embedding tables left float32 (positions): float16
              if node.op_type == "Gather" and node.input[0] in inits and inits[node.input[0]].data_type == 1
              and _size(inits[node.input[0]]) >= HALF_VALUES]
    _half(model, [*keep, *tables])
    onnx.save(model, str(dst))


def _size(init: Any) -> int:
    size = 1
    for d in init.dims:
        size *= int(d)
    return size


def _half(model: Any, nodes: Sequence[str]) -> None:
    """The constant weights of the MatMuls ``nodes`` (kept out of 8 bits) stored as float16 and widened to float32
    by a ``Cast`` in front of each: half the bytes, the computation still float32 (float16 keeps 11 significant
    bits, where 8-bit blocks keep 8)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    wanted = set(nodes)
    for node in list(graph.node):
        if node.name not in wanted:
            continue
        for name in node.input:
            init = inits.get(name)
            if init is None or init.data_type != 1:  # float32 initializers only
                continue
            graph.initializer.remove(init)
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                                             name + "_f16"))
            graph.node.insert(list(graph.node).index(node),
                              helper.make_node("Cast", [name + "_f16"], [name], to=1, name=name + "_widen"))
            del inits[name]


#: the packages whose versions make an export (read from their metadata: nothing is imported)
EXPORTERS = ("torch", "onnx", "onnxruntime", "onnxscript", "transformers")


@functools.lru_cache(maxsize=None)
def _exporter_versions() -> tuple[tuple[str, str], ...]:
    import importlib.metadata

    out = []
    for name in EXPORTERS:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "0"))
    return tuple(out)


def exporter_versions() -> dict[str, str]:
    """The versions of :data:`EXPORTERS` ("0": not installed), read once a process: part of every export's key (a
    live export's, a quick preview's) and of what an export records."""
    return dict(_exporter_versions())


def feed(encoding: Any, inputs: Sequence[str]) -> dict[str, Any]:
    """The export's inputs (int64 numpy arrays of shape (1, n)) from a ``tokenizers`` encoding of one sentence."""
    import numpy as np

    given = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask, "token_type_ids": encoding.type_ids}
    return {name: np.asarray([given[name]], dtype=np.int64) for name in inputs}


def session(model: str | os.PathLike | bytes) -> Any:
    """An onnxruntime session of ``model`` (a file, or its bytes) on the CPU, its log quiet but for errors."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                providers=["CPUExecutionProvider"])


def export(loaded: Any, name: str, folder: Path, sentences: Sequence[tuple[str, str | None]], *,
           quantise: bool = True) -> Exported:
    """Export ``loaded`` (:class:`~mkdocs_attnviz.extract.load.Loaded`, model ``name``) into ``folder``:
    ``model.onnx`` (8-bit or float32, see the module; ``quantise=False``: float32 only, within
    :data:`FLOAT_BOUND`) and ``tokenizer.json``; check it on ``sentences`` (the author's: ``(text, pair)``) and
    :data:`PROBES`. Raises :class:`AttnvizError` (option ``live``) when it cannot be exported or its attention is
    not within the bound."""
    try:
        import onnxruntime  # noqa: F401 - the checks run on it (session)
        import torch
    except ImportError as exc:
        raise AttnvizError(f"live figures need onnx and onnxruntime at build time ({exc.name} is not installed): "
                           "pip install 'mkdocs-attnviz[live]'", option="live") from None
    import numpy as np

    tokenizer, model, config = loaded.tokenizer, loaded.model, loaded.config
    if loaded.encoder_decoder:
        raise AttnvizError(f"model {name!r} is an encoder–decoder model: live figures run encoders (the BERT "
                           "family) and causal language models only", option="live")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise AttnvizError(f"model {name!r} has no fast tokenizer (tokenizer.json), which the browser needs to "
                           "tokenize as the build does", option="live")
    inputs = _model_inputs(tokenizer, model)
    wrapper = _wrapper(model, inputs)
    feeds = [encode(tokenizer, text, pair, inputs) for text, pair in list(sentences) + [(p, None) for p in PROBES]]
    limit = _max_tokens(tokenizer, config)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "float32.onnx"
    n = torch.export.Dim("n", min=2, max=limit)
    example = {k: torch.from_numpy(v) for k, v in feeds[0].items()}
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (), str(raw), kwargs=example, dynamo=True, input_names=list(inputs),
                              output_names=["attentions"], dynamic_shapes={k: {1: n} for k in inputs},
                              external_data=False, optimize=True, verbose=False)
    except Exception as exc:  # the exporter's errors are long; their first line says what failed
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise AttnvizError(f"model {name!r} could not be exported to ONNX for a live figure: {first}",
                           option="live") from None
    _scrub(raw)
    quant = folder / "int8.onnx"
    if quantise:
        import onnx

        # the query and key projections stay float32: the softmax of their product is where 8-bit weights move the
        # attention most (MiniLM, max |Δ| on a sentence with accents, [UNK] and CJK: 0.0227 all 8-bit, 0.0179 so)
        query_key = _query_key_matmuls(onnx.load(str(raw), load_external_data=False).graph)
        _quantize(raw, quant, [name for layer in query_key for name in layer])

    def measure(path: Path) -> float:
        run = session(path)
        worst = 0.0
        for feed in feeds:
            got, want = attentions_onnx(run, feed), eager_attentions(wrapper, feed)
            if got.shape != want.shape:
                raise AttnvizError(f"the ONNX export of {name!r} gives attentions of shape {got.shape}, the model "
                                   f"{want.shape}", option="live")
            worst = max(worst, float(np.abs(got - want).max()))
        return worst

    measured_int8 = measure(quant) if quantise else None
    layers, heads = (int(x) for x in eager_attentions(wrapper, feeds[0]).shape[:2])
    if measured_int8 is not None and measured_int8 <= INT8_BOUND:
        keep, kind, bound, measured = quant, "int8", INT8_BOUND, measured_int8
    else:
        measured = measure(raw)
        if measured > FLOAT_BOUND:
            raise AttnvizError(f"the ONNX export of {name!r} differs from the model by {measured:.4f} on this "
                               f"sentence (allowed: {FLOAT_BOUND:.4f}): it cannot go live", option="live")
        keep, kind, bound = raw, "float32", FLOAT_BOUND
    os.replace(keep, folder / "model.onnx")
    for leftover in (raw, quant):
        leftover.unlink(missing_ok=True)
    backend.save(str(folder / "tokenizer.json"), pretty=False)  # the browser fetches it: no indentation
    return Exported(quant=kind, bound=bound, measured=measured, measured_int8=measured_int8, layers=layers,
                    heads=heads, max_tokens=limit, inputs=list(inputs), special=_special(tokenizer),
                    causal=bool(loaded.causal), versions=exporter_versions(),
                    tokenizer_config=_tokenizer_config(tokenizer, folder))
