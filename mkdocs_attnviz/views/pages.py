"""The standalone page of the canvas views (``bars``, ``heads``, ``model``, ``neuron``).

Same contract as the heatmap page (:mod:`mkdocs_attnviz.render`): one self-contained HTML page for an
``<iframe>``, no network request, works from ``file://``. It needs no BokehJS: everything is drawn on
``<canvas>`` by ``templates/attnviz-views.js`` and the view's own script (``templates/view-<name>.js``).

Data inside the page
--------------------
* ``<script type="application/json" id="attnviz-data">``: model, sentence, the initial choices, and
  ``sets``: for each attention set (``self``; or ``encoder``, ``decoder``, ``cross``) its query and key
  tokens (labels, raw tokens, special and segment flags), sizes and whether it is causal.
* ``<script type="application/octet-stream" data-set="S" data-layer="L">``: the weights of layer ``L``
  of set ``S`` exactly as the heatmap packs them (:func:`mkdocs_attnviz.render.pack_layer`: base64 of
  zlib of ``uint8`` ``round(w * 255)``, shape ``(heads, nq, nk)``).
* neuron view only, ``<script type="application/octet-stream" data-qk="query|key" data-layer="L">``:
  base64 of zlib of little-endian float32 ``(heads, n, d)``.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

from ..attention import Attention
from ..toolkit import page as kit
from ..errors import AttnvizError
from ..spec import FigureSpec, resolve_head, resolve_layer, resolve_query
from . import describe, hide_part, parts, shown_part

__all__ = ["page", "height", "VIEW_SCRIPTS"]

VIEW_SCRIPTS = {"bars": "view-bars.js", "heads": "view-heads.js", "model": "view-model.js",
                "neuron": "view-neuron.js"}
HEADER_PX = 40


def _initial(att: Attention, spec: FigureSpec) -> tuple[int, int | str]:
    layer = resolve_layer(spec.layer, att.num_layers)
    head = resolve_head(spec.head, att.num_heads)
    if layer == "all":
        layer = att.num_layers - 1
    return int(layer), head


def _side_json(side) -> dict[str, Any]:

    return {"labels": side.labels, "ticks": [kit.display_label(x) for x in side.labels], "tokens": side.tokens,
            "special": side.special, "segments": side.segments}


def _pack_f32(a: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, dtype="<f4").tobytes(), 9)).decode("ascii")


def height(att: Attention, spec: FigureSpec) -> int:
    """CSS pixels the iframe needs (``spec.height`` wins)."""
    if spec.height:
        return int(spec.height)
    p = shown_part(att, spec)
    n = max(len(p.q.labels), len(p.k.labels))
    if spec.view == "heads":
        return HEADER_PX + 34 + 30 + _row_px(n) * n + 16
    if spec.view == "model":
        cols = att.num_heads
        thumb = max(28, min(84, 860 // max(cols, 1)))
        return HEADER_PX + 30 + (thumb + 4) * att.num_layers + 20
    if spec.view == "neuron":
        return HEADER_PX + 30 + 70 + 18 * len(p.k.labels) + 20
    longest = max((len(x) for x in p.k.labels), default=1)
    return HEADER_PX + 30 + 300 + min(120, 12 + int(min(longest, 14) * 5.5))


def _row_px(n: int) -> int:
    """Height of one token row in the head view (same rule as view-heads.js)."""
    return max(6, min(22, 1800 // max(n, 1)))


def page(att: Attention, spec: FigureSpec) -> str:
    from markupsafe import Markup

    from .. import render

    if spec.view not in VIEW_SCRIPTS:
        raise AttnvizError(f"unknown view {spec.view!r}", option="view")
    layer, head = _initial(att, spec)
    chosen = shown_part(att, spec)
    available = parts(att)
    if spec.view == "neuron":
        available = {chosen.name: chosen}
    sets: dict[str, Any] = {}
    blobs: list[tuple[str, int, str]] = []
    for name, p in available.items():
        p = hide_part(p) if spec.special_tokens == "hide" else p
        sets[name] = {"nq": len(p.q.labels), "nk": len(p.k.labels), "q": _side_json(p.q), "k": _side_json(p.k),
                      "causal": bool(p.causal), "square": p.square}
        blobs += [(name, index, kit.pack_layer(p.weights[index])) for index in range(p.weights.shape[0])]
    query = resolve_query(spec.query, chosen.q.labels, chosen.q.tokens)
    data: dict[str, Any] = {
        "format": 1, "view": spec.view, "title": describe(att, spec), "model": att.model,
        "who": att.meta.get("source") == "data" and f"data {att.model}" or f"model {att.model}",
        "text": spec.text, "pair": spec.pair, "theme": spec.theme, "num_layers": att.num_layers,
        "num_heads": att.num_heads, "layer": layer, "head": head, "query": query, "filter": spec.filter,
        "set": chosen.name, "sets": sets, "palette": render.palette(spec.colormap), "scale": 255,
        "hidden": spec.special_tokens == "hide" and any(att.special),
        "analysis": att.meta.get("analysis"),  # what views.transform did (for the title)
    }
    qk = []
    if spec.view == "neuron":
        if "query" not in att.arrays or "key" not in att.arrays:
            raise AttnvizError("the neuron view needs the query and key vectors, which this record lacks",
                               option="view")
        if spec.special_tokens == "hide":
            raise AttnvizError("the neuron view shows the softmax over every token: special_tokens=\"hide\" "
                               "does not apply", option="special_tokens")
        q, k = att.arrays["query"], att.arrays["key"]
        data["qk"] = {"d": int(q.shape[-1]), "scale": att.meta.get("qk_scale")}
        if data["query"] is None:
            data["query"] = 0
        qk = [(which, index, _pack_f32(arr[index])) for which, arr in (("query", q), ("key", k))
              for index in range(arr.shape[0])]
    env = kit.environment()
    plot_px = height(att, spec) - HEADER_PX - 6
    return env.get_template("view.html.jinja").render(
        title=data["title"], caption=spec.caption, figure_id=spec.id, text=spec.text, pair=spec.pair,
        view=spec.view, header_px=HEADER_PX, plot_height=plot_px,
        css=Markup((kit.asset_text("figure.css") + kit.asset_text("views.css")).replace("</", "<\\/")),
        js=Markup(kit.script_text(kit.asset_text("attnviz-common.js") + "\n"
                                      + kit.asset_text("attnviz-views.js") + "\n"
                                      + kit.asset_text(VIEW_SCRIPTS[spec.view]))),
        data_json=Markup(kit.script_json(data)), blobs=blobs, qk=qk, render_version=render.RENDER_VERSION)
