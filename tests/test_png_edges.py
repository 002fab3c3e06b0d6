"""No PNG of any view is cut at its edges, in Japanese, Chinese, Korean and with Arabic tokens: the two outermost
pixel columns and rows on each side are background (titles and legends are measured with the renderer to fit,
``toolkit.mpl.fit_title`` and ``legend_columns``). The real MiniLM runs; a long input is made long by lowering
``attention.LONG_TOKENS``."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mkdocs_attnviz import attention, draw, extract
from mkdocs_attnviz.layers import LayerStore
from mkdocs_attnviz.spec import build_spec

SENTENCES = {"ja": ("ja", "猫がマットの上に座った。今日は東京で雨が降っています。"), "zh": ("zh", "我喜欢学习自然语言处理。"),
             "ko": ("ko", "한국어 문장도 조금 있습니다."), "ar": ("en", "القطة جلست على الحصيرة لأنها كانت متعبة.")}
VIEWS = {"heatmap": {}, "bars": {"view": "bars"}, "heads": {"view": "heads"}, "model": {"view": "model"},
         "neuron": {"view": "neuron"}, "summary": {"view": "summary"}, "compare": {"compare": "layer:0"},
         "longinput": {"max_tokens": "40"}}
EDGE = 2  # pixels


def ink_at_edges(png: bytes) -> dict[str, int]:
    """Pixels that differ from the background (the top-left corner) in the ``EDGE`` outermost columns/rows."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    strips = {"left": a[:, :EDGE], "right": a[:, -EDGE:], "top": a[:EDGE], "bottom": a[-EDGE:]}
    found = {side: int((np.abs(strip - a[0, 0]).sum(-1) > 30).sum()) for side, strip in strips.items()}
    return {side: n for side, n in found.items() if n}


@pytest.fixture(scope="module")
def records(minilm_path):
    ref = extract.resolve_model(minilm_path, None, allowed_root="/")
    return {key: extract.extract(ref, text, max_tokens=11, qk=True) for key, (_, text) in SENTENCES.items()}, ref


@pytest.mark.parametrize("language", list(SENTENCES))
@pytest.mark.parametrize("view", list(VIEWS))
def test_no_png_is_cut_at_its_edges(records, monkeypatch, view, language):
    found, ref = records
    lang, text = SENTENCES[language]
    if view == "longinput":  # kept one layer at a time, drawn by views.longinput
        monkeypatch.setattr(attention, "LONG_TOKENS", 12)
        att = extract.extract(ref, text, max_tokens=40)
        assert isinstance(att.weights, LayerStore)
    else:
        att = found[language]
    spec = build_spec({"model": ref.name, "lang": lang, "max_tokens": "11", **VIEWS[view]}, text)
    png = draw.figure_png(att, spec)
    assert ink_at_edges(png) == {}, f"{view} in {language}: ink in the outermost {EDGE} pixels"
