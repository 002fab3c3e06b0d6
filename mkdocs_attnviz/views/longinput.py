"""The heatmap of a long input (from :data:`mkdocs_attnviz.attention.LONG_TOKENS` tokens): a page that holds no
weights, one side file per layer and head, and a legible picture.

Side files (:func:`files`), named ``<figure>.l<layer>.<head>.js`` (``<head>``: an index, ``mean`` or ``max``, the
last two computed while the model ran), each ``Attnviz.side("l<layer>.<head>", "<base64>")`` (a script tag loads it,
from ``file://`` too): the ``uint8`` (n, n) matrix exactly as the cache keeps it (zlib, ``floor(w·255 + ½)``).
Beyond :data:`FULL_TOKENS` tokens each also has an *overview*, ``<figure>.l<layer>.<head>.o.js``: the largest
weight of each ``f × f`` block (f = :func:`overview_factor`, at most :data:`OVERVIEW_CELLS` blocks a side), which
is what the page shows until the reader zooms into at most :data:`DETAIL_TOKENS` tokens; then it loads the full
matrix and draws the visible part cell by cell, with the tick labels of the visible tokens. Before the first paint
the page loads only the side file of its initial layer and head.

The picture (:func:`picture_image`) is the largest weight of each block of tokens when there are more tokens than
pixels; the heatmap labels every ``step``-th token and writes a note saying both.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Iterator

from ..lazy import np

from ..errors import AttnvizError
from ..layers import pool_max
from ..prepare import Prepared
from ..spec import FigureSpec
from ..toolkit import page as kit

__all__ = ["FULL_TOKENS", "OVERVIEW_CELLS", "DETAIL_TOKENS", "overview_factor", "side_id", "files", "side_data",
           "inline_blocks", "picture_image", "check"]

#: up to this many tokens a side file's full matrix is what the page shows (no overview)
FULL_TOKENS = 2048
#: an overview has at most this many blocks a side
OVERVIEW_CELLS = 1024
#: the page draws cells one by one once the reader zooms into at most this many tokens
DETAIL_TOKENS = 1024
#: the picture's grid, in pixels (as the heatmap's picture draws at most 8.8 in at 100 dpi)
PICTURE_CELLS = 880


def check(spec: FigureSpec, n: int) -> None:
    """What the heatmap of a long input refuses: it shows the weights as extracted, one layer and head at a time."""
    what = f"an input of {n} tokens is shown one layer and head at a time, as extracted"
    if spec.layer == "all" or spec.head == "all":
        raise AttnvizError(f"{what}: layer=\"all\" and head=\"all\" do not apply",
                           option="layer" if spec.layer == "all" else "head")
    for option, value, plain in (("aggregate", spec.aggregate, "none"), ("granularity", spec.granularity, "token")):
        if value != plain:
            raise AttnvizError(f"{what}: {option}=\"{value}\" does not apply", option=option)
    if spec.special_tokens in ("hide", "hide-raw"):
        raise AttnvizError(f"{what}: special_tokens=\"{spec.special_tokens}\" does not apply", option="special_tokens")


def overview_factor(n: int) -> int:
    """Tokens per block side of the overview (1: no overview)."""
    return 1 if n <= FULL_TOKENS else math.ceil(n / OVERVIEW_CELLS)


def side_id(layer: int, sel: int | str, overview: bool = False) -> str:
    """``l3.mean``, ``l0.5.o``: the name of one side file's data (and of the file, after the figure's name)."""
    return f"l{layer}.{sel}" + (".o" if overview else "")


def _selections(num_heads: int) -> list[int | str]:
    return list(range(num_heads)) + ["mean", "max"]


def files(fig: Prepared) -> Iterator[tuple[str, bytes]]:
    """Every side file of the figure, ``(suffix, content)``, one layer read at a time."""
    store = fig.part.weights
    factor = overview_factor(store.shape[2])
    for layer in range(store.num_layers):
        for sel in _selections(store.num_heads):
            yield f".{side_id(layer, sel)}.js", kit.side_script(side_id(layer, sel), store.blob(layer, sel))
            if factor > 1:
                small = np.ascontiguousarray(pool_max(store.matrix(layer, sel), factor))
                yield f".{side_id(layer, sel, True)}.js", kit.side_script(side_id(layer, sel, True),
                                                                          zlib.compress(small.tobytes(), 6))


def side_data(fig: Prepared, name: str) -> dict[str, Any]:
    """What the page needs to find its side files: their prefix, the overview's factor and size, the zoom limit."""
    n = fig.part.weights.shape[2]
    factor = overview_factor(n)
    return {"prefix": name, "factor": factor, "m": math.ceil(n / factor), "detail": DETAIL_TOKENS}


def inline_blocks(fig: Prepared) -> list[tuple[str, str]]:
    """Every side file's ``(id, base64)``, for a page with no site around it (the data goes into the page)."""
    return [kit.side_payload(body.decode("ascii")) for _suffix, body in files(fig)]


def picture_image(fig: Prepared, layer: int, head: int | str) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The picture's matrix of a long input (float32, the largest weight of each block of ``factor × factor``
    tokens when there are more tokens than pixels), its future mask (causal) at that resolution, and ``factor``."""
    store = fig.part.weights
    n = store.shape[2]
    factor = max(1, math.ceil(n / PICTURE_CELLS))
    image = pool_max(store.matrix(layer, head), factor).astype(np.float32) / np.float32(255.0)
    m = image.shape[0]
    future = np.triu(np.ones((m, m), dtype=bool), k=1) if fig.part.causal else None
    return image, future, factor
