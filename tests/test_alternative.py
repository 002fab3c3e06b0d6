"""Text alternatives computed at build time with the real MiniLM: the sentence that names the keys most attended to
(in the alt text and in the page, in the figure's language) and the table of the matrix shown (cut for long
inputs, with a note), both equal to the numbers the page itself carries."""

from __future__ import annotations

import html
import json
import os
import re

import numpy as np
import pytest

from mkdocs_attnviz import alternative, attention, draw, extract
from mkdocs_attnviz.analysis import dequantize, quantize
from mkdocs_attnviz.pipeline import FigureBuilder
from mkdocs_attnviz.settings import Settings
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.toolkit.page import unpack_layer
from mkdocs_attnviz.views import longinput

SENTENCE = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def att(minilm_path):
    ref = extract.resolve_model(minilm_path, None, allowed_root=os.path.dirname(minilm_path))
    return extract.extract(ref, SENTENCE)


def spec(**options):
    return build_spec({"model": "m", **{k: str(v) for k, v in options.items()}}, SENTENCE)


def page_payload(page: str):
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page, re.S).group(1))
    axis = data["sets"][data["set"]]
    layers = {int(m.group(1)): unpack_layer(m.group(2), data["num_heads"], axis["nq"])
              for m in re.finditer(r'data-layer="(\d+)">(.*?)</script>', page, re.S)}
    data["labels"] = axis["q"]["labels"]  # the heatmap's one axis (query and key tokens are the same)
    return data, layers


def page_table(page: str):
    """(caption, header cells, rows of cells, note) of the page's table alternative."""
    block = re.search(r'<details class="attnviz-table".*?</details>', page, re.S).group(0)
    caption = html.unescape(re.search(r"<caption[^>]*>(.*?)</caption>", block, re.S).group(1))
    head = [html.unescape(c) for c in re.findall(r'<th scope="col">(.*?)</th>', block)]
    rows = [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
            for r in re.findall(r"<tr>(<th scope=\"row\">.*?)</tr>", block, re.S)]
    note = re.search(r'<p class="attnviz-table-note">(.*?)</p>', block, re.S)
    return caption, head, rows, note and html.unescape(note.group(1))


def expected_pairs(matrix, labels, special, count=3):
    best = matrix.argmax(axis=1)
    top = matrix[np.arange(len(labels)), best]
    order = [q for q in np.argsort(-top, kind="stable") if not special[q]][:count]
    return [f"“{labels[q]}” attends most to “{labels[best[q]]}” ({top[q]:.2f})" for q in order]


def test_the_sentence_names_the_keys_most_attended_in_the_layer_and_head_shown(att):
    s = spec(layer=5, head=3)
    matrix = dequantize(quantize(np.asarray(att.weights[5, 3])))
    pairs = expected_pairs(matrix, att.labels, att.special)
    want = "In layer 5 of 6 (last), head 3 of 12: " + ", ".join(pairs) + "."
    alt = draw.alt_text(att, s)
    assert alt.endswith(" " + want), alt
    assert alt.startswith("Attention heatmap of ")
    page = draw.figure_page(att, s)
    said = html.unescape(re.search(r'<p class="attnviz-sr" id="attnviz-summary">(.*?)</p>', page).group(1))
    assert said == want
    assert 'aria-describedby="attnviz-summary"' in page
    # the numbers are those of the page's own payload
    data, layers = page_payload(page)
    for pair in pairs:
        query, key, weight = re.match(r"“(.*)” attends most to “(.*)” \((.*)\)", pair).groups()
        q = data["labels"].index(query)
        assert f"{layers[5][3, q].max():.2f}" == weight
        assert data["labels"][int(layers[5][3, q].argmax())] == key


def test_every_view_has_the_sentence_and_the_table(att):
    for options in ({"view": "bars"}, {"view": "heads"}, {"view": "model"}, {"view": "summary"},
                    {"view": "heatmap", "layer": "all", "head": "all"}):
        s = spec(**options)
        page = draw.figure_page(att, s)
        caption, head, rows, note = page_table(page)
        assert caption.startswith("Attention weights of layer 5 of 6 (last), "), (options, caption)
        assert len(rows) == len(head) - 1 == len(att.labels) and note is None
        assert " attends most to " in draw.alt_text(att, s)


def test_the_table_holds_the_payload_matrix(att):
    page = draw.figure_page(att, spec(layer=2, head="mean"))
    data, layers = page_payload(page)
    caption, head, rows, note = page_table(page)
    assert caption == "Attention weights of layer 2 of 6, mean of 12 heads: a row for each query, a column for each key"
    assert head == ["query \\ key"] + data["labels"]
    mean = layers[2].mean(axis=0)  # the page's mean of the quantised heads
    for q, row in enumerate(rows):
        assert row[0] == data["labels"][q]
        assert row[1:] == [f"{v:.2f}" for v in mean[q]]


def test_the_alternatives_speak_the_figure_language(att):
    s = build_spec({"model": "m", "layer": "5", "head": "3", "lang": "ja"}, SENTENCE)
    alt = draw.alt_text(att, s)
    assert "層 5（全 6 層の最終層）、ヘッド 3（全 12 ヘッド）：「" in alt, alt
    assert "最も注目するのは" in alt and "「" in alt
    caption = page_table(draw.figure_page(att, s))[0]
    assert "アテンション重み" in caption
    for lang, word in [("zh", "最关注"), ("ko", "가장 주목"), ("de", "achtet am meisten auf"),
                       ("fr", "porte le plus d’attention"), ("es", "atiende sobre todo a")]:
        assert word in draw.alt_text(att, build_spec({"model": "m", "lang": lang}, SENTENCE)), lang


def test_a_long_table_is_cut_with_a_note(att, monkeypatch):
    assert alternative.TABLE_TOKENS == 40  # as docs/accessibility.md says
    monkeypatch.setattr(alternative, "TABLE_TOKENS", 5)
    caption, head, rows, note = page_table(draw.figure_page(att, spec(layer=1, head=0)))
    assert len(head) == 6 and len(rows) == 5 and all(len(r) == 6 for r in rows)
    assert note == f"The first 5 of {len(att.labels)} tokens; the CSV and JSON downloads hold them all."


def test_a_long_input_has_both_alternatives(tmp_path, minilm_path, monkeypatch):
    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    monkeypatch.setattr(longinput, "FULL_TOKENS", 8)
    monkeypatch.setattr(alternative, "TABLE_TOKENS", 6)
    builder = FigureBuilder(Settings(cache_dir=str(tmp_path / "cache"), models={"m": minilm_path}))
    s = build_spec({"model": "m", "head": "mean"}, SENTENCE)
    record = builder.attention(s)[1]
    assert record.layered
    page = draw.figure_page(record, s)
    caption, head, rows, note = page_table(page)
    assert len(rows) == 6 and note.startswith(f"The first 6 of {record.num_tokens} tokens")
    full = record.weights.matrix(5, "mean").astype(np.float32) / 255
    assert rows[2][1:] == [f"{v:.2f}" for v in full[2, :6]]
    assert " attends most to " in draw.alt_text(record, s)
