"""What a figure says to someone who cannot see it: a sentence and a table, computed at build time.

:func:`shown` picks the one matrix a figure opens on (its layer and head; ``all`` layers: the last one, ``all``
heads: their mean), as the page decodes it (weights rounded to 1/255). :func:`summary` says which keys the
queries attend to most (``In layer 5 of 6 (last), head 3 of 12, “cat” attends most to “sat” (0.41), …``): it ends
the figure's alt text (:meth:`mkdocs_attnviz.views.View.alt`) and describes the plot in its page. :func:`table` is
the same matrix as an HTML table for the page's ``<details>`` (``table.html.jinja``), cut to
:data:`TABLE_TOKENS` rows and columns with a note for longer inputs. Every word goes through the figure's
:class:`~mkdocs_attnviz.texts.Texts`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .lazy import np

from .prepare import Prepared
from .analysis import dequantize, head_matrix, quantize

__all__ = ["Shown", "shown", "summary", "table", "context", "TABLE_TOKENS", "SUMMARY_PAIRS"]

#: rows and columns of the table alternative at most (a longer input: the first ones, with a note)
TABLE_TOKENS = 40
#: how many queries the sentence names (those whose strongest weight is the largest)
SUMMARY_PAIRS = 3


@dataclasses.dataclass(frozen=True)
class Shown:
    """The matrix a figure opens on: ``matrix[q, k]`` (float32, rounded as the page decodes it)."""

    layer: int
    head: int | str  # an index, "mean" or "max"
    matrix: np.ndarray
    rows: list[str]  # query labels
    cols: list[str]  # key labels
    special: list[bool]  # per query: a special token
    selection: str  # "layer 5 of 6 (last), head 3 of 12" in the figure's language


def shown(fig: Prepared) -> Shown:
    """The layer and head a figure opens on and their matrix."""
    p, tx = fig.part, fig.tx
    layer = fig.num_layers - 1 if fig.layer == "all" else int(fig.layer)
    head: int | str = "mean" if fig.head == "all" else fig.head
    if fig.record.layered:
        matrix = p.weights.matrix(layer, head).astype(np.float32) / 255.0
    else:
        matrix = head_matrix(dequantize(quantize(np.asarray(p.weights[layer]))), head)  # as the page decodes it
    analysis = fig.analysis or {}
    heads = (tx.fused(analysis["fusion"], analysis["num_heads"]) if analysis.get("aggregate")
             else tx.head(head, fig.num_heads))
    selection = tx.join([tx.layer(layer, fig.num_layers, analysis.get("aggregate")), heads])
    return Shown(layer, head, matrix, list(p.q.labels), list(p.k.labels), [bool(s) for s in p.q.special], selection)


def _label(label: str) -> str:
    """A token as the alternatives write it: ``␣`` for whitespace, ``∅`` for nothing, ``↵`` for a line or paragraph
    separator (never written raw into a page)."""
    text = label if label.strip() else ("␣" if label else "∅")
    return text.replace("\u2028", "↵").replace("\u2029", "↵")


def summary(fig: Prepared, view: Shown | None = None) -> str:
    """``In layer 5 of 6 (last), head 3 of 12, “cat” attends most to “sat” (0.41), …``: the queries (special
    tokens left out unless there are only those) whose strongest weight is the largest, and the key of it."""
    view = view or shown(fig)
    m = view.matrix
    if not m.size:
        return ""
    best = m.argmax(axis=1)
    top = m[np.arange(m.shape[0]), best]
    order = [q for q in np.argsort(-top, kind="stable") if not view.special[q]] or list(np.argsort(-top))
    _ = fig.tx._
    pairs = [_("“{query}” attends most to “{key}” ({weight})").format(
        query=_label(view.rows[q]), key=_label(view.cols[best[q]]), weight=f"{top[q]:.2f}")
        for q in order[:SUMMARY_PAIRS]]
    return _("In {selection}: {pairs}.").format(selection=view.selection, pairs=fig.tx.join(pairs))


def table(fig: Prepared, view: Shown | None = None) -> dict[str, Any]:
    """The table alternative for ``table.html.jinja``: caption, column labels, rows ``(label, [values])``, note."""
    view = view or shown(fig)
    _ = fig.tx._
    nq, nk = view.matrix.shape
    rq, rk = min(nq, TABLE_TOKENS), min(nk, TABLE_TOKENS)
    masked = fig.part.causal and fig.part.square
    rows = [(_label(view.rows[q]), ["" if masked and k > q else f"{view.matrix[q, k]:.2f}" for k in range(rk)])
            for q in range(rq)]
    note = ""
    if (rq, rk) != (nq, nk):
        note = _("The first {shown} of {total} tokens; the CSV and JSON downloads hold them all.").format(
            shown=max(rq, rk), total=max(nq, nk))
    return {"summary": _("Table"), "caption": _("Attention weights of {selection}: a row for each query, a column "
                                                "for each key").format(selection=view.selection),
            "query_key": _("query \\ key"), "cols": [_label(view.cols[k]) for k in range(rk)], "rows": rows,
            "note": note}


def context(fig: Prepared) -> dict[str, Any]:
    """What a figure page's template gets: ``summary`` (the sentence) and ``table``."""
    view = shown(fig)
    return {"summary": summary(fig, view), "table": table(fig, view)}
