"""``data=``: attention read from a file instead of a model.

Formats
-------
``.npy``   a float array ``(n, n)``, ``(heads, n, n)`` or ``(layers, heads, n, n)`` (``allow_pickle=False``).
``.csv``   an ``n × n`` matrix of numbers; an optional first row and first column of token labels.
``.json``  a nested list of the same shapes, or an object ``{"tokens": [...], "attention": [...]}``
           (``"weights"`` is accepted for ``"attention"``), like the classic sample.

Tokens come from ``tokens=``, else from the file (JSON ``tokens``, CSV header), else from the sentence
split at spaces. The shape must match the tokens; every weight must be finite and between 0 and 1.
Rows that do not sum to 1 are shown as they are, with a warning.

Paths are resolved relative to the page's folder, then the docs folder; after resolving symlinks the
file must be inside the project folder (``..``, absolute paths and symlinks that lead out are refused).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from typing import Sequence

from .lazy import np

from .attention import Attention
from .errors import AttnvizError
from .locations import confined_file

__all__ = ["resolve", "load", "file_digest", "MAX_BYTES", "MAX_TOKENS"]

MAX_BYTES = 64 * 1024 * 1024
MAX_TOKENS = 2048
ROW_SUM_TOLERANCE = 1e-2


def resolve(name: str, *, page_dir: str | None, docs_dir: str | None, root: str | None) -> str:
    """The real path of the file ``name`` names (see the module docstring), or :class:`AttnvizError`."""
    return confined_file(name, page_dir=page_dir, docs_dir=docs_dir, root=root, option="data")


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(path: str) -> bytes:
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise AttnvizError(f"{os.path.basename(path)} is {size} bytes; data files are limited to {MAX_BYTES}",
                           option="data")
    with open(path, "rb") as fh:
        return fh.read()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _parse(path: str) -> tuple[np.ndarray, list[str] | None]:
    raw = _read(path)
    suffix = os.path.splitext(path)[1].lower()
    base = os.path.basename(path)
    file_tokens: list[str] | None = None
    try:
        if suffix == ".npy":
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        elif suffix == ".json":
            obj = json.loads(raw.decode("utf-8"))
            if isinstance(obj, dict):
                toks = obj.get("tokens")
                if toks is not None:
                    if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
                        raise AttnvizError(f"{base}: \"tokens\" must be a list of strings", option="data")
                    file_tokens = list(toks)
                obj = obj.get("attention", obj.get("weights"))
                if obj is None:
                    raise AttnvizError(f"{base}: a JSON object needs an \"attention\" matrix", option="data")
            array = np.array(obj, dtype=np.float64)
        else:
            rows = [r for r in csv.reader(io.StringIO(raw.decode("utf-8-sig"))) if any(c.strip() for c in r)]
            if not rows:
                raise AttnvizError(f"{base} is empty", option="data")
            header = None
            if any(_number(c) is None for c in rows[0][1:] or rows[0]):
                header, rows = rows[0], rows[1:]
            labelled = bool(rows) and all(_number(r[0]) is None for r in rows)
            if labelled:
                rows = [r[1:] for r in rows]
            if header is not None:
                file_tokens = [c.strip() for c in (header[1:] if labelled or len(header) > len(rows[0]) else header)]
            values = []
            for i, r in enumerate(rows):
                nums = [_number(c) for c in r]
                if any(v is None for v in nums):
                    raise AttnvizError(f"{base}: row {i + 1} holds something that is not a number", option="data")
                values.append(nums)
            if len({len(r) for r in values}) > 1:
                raise AttnvizError(f"{base}: the rows have different lengths", option="data")
            array = np.array(values, dtype=np.float64)
    except AttnvizError:
        raise
    except RecursionError:  # json.loads of "[[[[…" thousands deep
        raise AttnvizError(f"{base} could not be read as {suffix[1:].upper()}: it is nested too deeply (an attention "
                           "file has at most 4 levels: layers, heads, rows, columns)", option="data") from None
    except (ValueError, TypeError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise AttnvizError(f"{base} could not be read as {suffix[1:].upper()}: {exc}", option="data") from None
    if array.dtype.kind not in "fiu":
        raise AttnvizError(f"{base} holds {array.dtype} values, not numbers", option="data")
    return np.asarray(array, dtype=np.float64), file_tokens


def load(path: str, *, tokens: Sequence[str] | None, text: str, name: str) -> Attention:
    """Read, check and wrap the file as an :class:`Attention` (warnings in ``meta["warnings"]``)."""
    array, file_tokens = _parse(path)
    base = os.path.basename(path)
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != array.shape[-2] or 0 in array.shape:
        raise AttnvizError(f"{base} has shape {tuple(array.shape)}: expected a square matrix (n, n), or (heads, n, n), "
                           "or (layers, heads, n, n)", option="data")
    n = array.shape[-1]
    if n > MAX_TOKENS:
        raise AttnvizError(f"{base} has {n} tokens; at most {MAX_TOKENS}", option="data")
    toks = list(tokens) if tokens is not None else (file_tokens if file_tokens is not None else text.split())
    option = "tokens" if tokens is not None else "data"
    if len(toks) != n:
        raise AttnvizError(f"{base} is {n} × {n} but there are {len(toks)} tokens "
                           f"({'tokens=' if tokens is not None else 'from the sentence split at spaces'}); "
                           "they must match", option=option)
    if not np.isfinite(array).all():
        raise AttnvizError(f"{base} holds NaN or infinite values", option="data")
    if array.min() < 0:
        raise AttnvizError(f"{base} holds negative weights (smallest {array.min():.4g}): attention weights are ≥ 0",
                           option="data")
    if array.max() > 1 + 1e-6:
        raise AttnvizError(f"{base} holds weights above 1 (largest {array.max():.4g}): attention weights are "
                           "between 0 and 1 (apply the softmax first)", option="data")
    warnings = []
    sums = array.sum(-1)
    off = np.abs(sums - 1.0)
    if off.max() > ROW_SUM_TOLERANCE:
        bad = int((off > ROW_SUM_TOLERANCE).sum())
        l, h, q = np.unravel_index(int(off.argmax()), off.shape)
        warnings.append(f"{bad} row(s) of {base} do not sum to 1 (row {q} of layer {l}, head {h} sums to "
                        f"{sums[l, h, q]:.3f}); they are shown as they are")
    meta = {"source": "data", "num_layers": int(array.shape[0]), "num_heads": int(array.shape[1]),
            "warnings": warnings}
    # float64 as written (not float32): the classic recipe then sees exactly the file's numbers
    return Attention(weights=np.ascontiguousarray(array, dtype=np.float64), tokens=list(toks), labels=list(toks),
                     special=[False] * n, segments=[0] * n, model=name, revision="data:" + file_digest(path)[:16],
                     causal=False, meta=meta)
