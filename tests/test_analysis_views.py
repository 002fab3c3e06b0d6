"""Beyond raw weights (issue 6): rollout, flow, word-level attention, head summary, special tokens hidden without
renormalising, comparisons and generation. Each computation is checked against a hand-worked example and an
independent straightforward implementation (explicit loops; networkx for flow); the views render on the real
MiniLM and a tiny GPT-2."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from mkdocs_attnviz.attention import CONTINUATION
from mkdocs_attnviz import analysis, draw, extract
from mkdocs_attnviz.prepare import transform
from mkdocs_attnviz.attention import Attention
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.extract.load import load_model
from mkdocs_attnviz.spec import build_spec

SENTENCE = "The cat sat on the mat because it was unbelievably tired."
MINILM = "sentence-transformers/all-MiniLM-L6-v2"

# two layers, one head, two tokens: the example worked by hand in docs/analysis.md
A1 = np.array([[1.0, 0.0], [0.5, 0.5]])
A2 = np.array([[0.5, 0.5], [0.0, 1.0]])
HAND = np.stack([A1, A2])[:, None]  # (layers, heads, n, n)


def random_attention(layers=3, heads=2, n=5, seed=0, causal=False):
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)) ** 3
    if causal:
        w = w * np.tril(np.ones((n, n)))
    return w / w.sum(-1, keepdims=True)


def spec(body=SENTENCE, **options):
    options.setdefault("model", "m")
    return build_spec({k: str(v) for k, v in options.items()}, body)


# ------------------------------------------------------------------------------------------- rollout

def test_rollout_by_hand_and_by_explicit_loops():
    r = analysis.rollout(HAND)
    # Â¹ = ½(A¹ + I) = [[1, 0], [.25, .75]], Â² = [[.75, .25], [0, 1]]; R² = Â² Â¹
    np.testing.assert_allclose(r[0], [[1.0, 0.0], [0.25, 0.75]])
    np.testing.assert_allclose(r[1], [[0.8125, 0.1875], [0.25, 0.75]])

    w = random_attention(4, 3, 6, seed=1)
    got = analysis.rollout(w)
    L, H, n = w.shape[0], w.shape[1], w.shape[2]
    joint = [[float(i == j) for j in range(n)] for i in range(n)]
    for layer in range(L):
        a = [[sum(w[layer, h, i, j] for h in range(H)) / H * 0.5 + (0.5 if i == j else 0.0) for j in range(n)]
             for i in range(n)]
        a = [[x / sum(row) for x in row] for row in a]
        joint = [[sum(a[i][k] * joint[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
        np.testing.assert_allclose(got[layer], joint, atol=1e-12)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)
    # max fusion: rows renormalised, still stochastic
    np.testing.assert_allclose(analysis.rollout(w, "max").sum(-1), 1.0, atol=1e-12)
    # causal attention rolls out lower-triangular
    c = analysis.rollout(random_attention(3, 2, 5, causal=True))
    assert np.abs(np.triu(c, 1)).max() < 1e-12


# ---------------------------------------------------------------------------------------------- flow

def test_flow_by_hand_and_against_networkx():
    f = analysis.attention_flow(HAND)
    np.testing.assert_allclose(f[0], [[1.0, 0.0], [0.25, 0.75]])  # one layer: the flow is Â itself
    # from (2, 0): 0.75 + 0.25 reach token 0, 0.25 reaches token 1 -> [1, .25] / 1.25
    np.testing.assert_allclose(f[1], [[0.8, 0.2], [0.25, 0.75]])

    nx = pytest.importorskip("networkx")
    for n, layers, seed in ((4, 3, 2), (5, 2, 3), (6, 2, 4)):
        w = random_attention(layers, 2, n, seed=seed)
        got = analysis.attention_flow(w)
        a = 0.5 * w.mean(1) + 0.5 * np.eye(n)
        a /= a.sum(-1, keepdims=True)
        g = nx.DiGraph()
        for m in range(1, layers + 1):
            for i in range(n):
                for j in range(n):
                    g.add_edge((m, i), (m - 1, j), capacity=float(a[m - 1, i, j]))
        for top in range(1, layers + 1):
            for i in range(n):
                row = np.array([nx.maximum_flow_value(g, (top, i), (0, j)) for j in range(n)])
                np.testing.assert_allclose(got[top - 1, i], row / row.sum(), atol=1e-9)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)


def test_flow_refuses_long_inputs_clearly():
    analysis.check_flow_size(6, 32)
    analysis.check_flow_size(12, 22)
    for layers, n in ((6, 33), (13, 4), (12, 24)):
        with pytest.raises(AttnvizError) as info:
            analysis.check_flow_size(layers, n)
        assert info.value.option == "aggregate" and "rollout" in str(info.value)


# ------------------------------------------------------------------------------------ words, specials

def test_word_merge_by_hand_and_by_loops():
    a = np.array([[0.5, 0.25, 0.25], [0.2, 0.4, 0.4], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(analysis.merge_words(a, [[0], [1, 2]]), [[0.5, 0.5], [0.4, 0.6]])
    assert analysis.word_groups([None, 0, 0, 1, None], [True, False, False, False, True]) == [[0], [1, 2], [3], [4]]
    # a pair: the same word id in another segment is another word
    assert analysis.word_groups([0, 0, 0], [False] * 3, [0, 0, 1]) == [[0, 1], [2]]

    w = random_attention(2, 3, 7, seed=5)
    groups = [[0], [1, 2, 3], [4], [5, 6]]
    got = analysis.merge_words(w, groups)
    for l_ in range(2):
        for h in range(3):
            for a_, qa in enumerate(groups):
                for b_, kb in enumerate(groups):
                    expected = sum(sum(w[l_, h, p, q] for q in kb) for p in qa) / len(qa)
                    assert abs(got[l_, h, a_, b_] - expected) < 1e-12
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)


def test_hide_with_and_without_renormalising():
    a = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    raw = analysis.hide_tokens(a, [False, True, True], renormalise=False)
    np.testing.assert_allclose(raw, [[0.6, 0.3], [0.25, 0.5]])
    np.testing.assert_allclose(analysis.hide_tokens(a, [False, True, True], renormalise=True),
                               [[2 / 3, 1 / 3], [1 / 3, 2 / 3]])


def test_head_summary_by_hand_and_by_loops():
    a = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])[None, None]
    s = analysis.head_summary(a, [True, False, False])
    np.testing.assert_allclose(s["entropy_nats"][0, 0], 2 * np.log(2) / 3)
    np.testing.assert_allclose(s["entropy"][0, 0], 2 * np.log(2) / 3 / np.log(3))
    np.testing.assert_allclose(s["distance"][0, 0], (0 + 0.5 + 0.5) / 3)
    np.testing.assert_allclose(s["special"][0, 0], (1 + 0.5 + 0) / 3)
    np.testing.assert_allclose(s["previous"][0, 0], 0.5)
    np.testing.assert_allclose(s["next"][0, 0], 0.0)
    np.testing.assert_allclose(s["self"][0, 0], (1 + 0.5 + 0.5) / 3)

    w = random_attention(2, 3, 6, seed=7)
    special = [True, False, False, False, False, True]
    s = analysis.head_summary(w, special)
    n = 6
    for l_ in range(2):
        for h in range(3):
            m = w[l_, h]
            ent = -sum(m[i, j] * np.log(m[i, j]) for i in range(n) for j in range(n) if m[i, j] > 0) / n
            assert abs(s["entropy_nats"][l_, h] - ent) < 1e-12
            assert abs(s["distance"][l_, h] - sum(m[i, j] * abs(i - j) for i in range(n) for j in range(n)) / n) < 1e-12
            assert abs(s["special"][l_, h] - sum(m[i, j] for i in range(n) for j in range(n) if special[j]) / n) < 1e-12
            assert abs(s["previous"][l_, h] - sum(m[i, i - 1] for i in range(1, n)) / (n - 1)) < 1e-12


def test_sink_and_local_heads_are_named():
    n = 12
    sink = np.zeros((n, n))
    sink[:, 0] = 0.9
    sink[np.arange(n), np.arange(n)] += 0.1
    sink[0, 0] = 1.0
    local = np.zeros((n, n))
    for i in range(n):  # causal: the token itself and the one before
        local[i, max(0, i - 1):i + 1] = 1.0
    local /= local.sum(-1, keepdims=True)
    uniform = np.tril(np.ones((n, n)))
    uniform /= uniform.sum(-1, keepdims=True)
    w = np.stack([np.stack([sink, local, uniform])])
    s = analysis.head_summary(w, [False] * n, causal=True)
    np.testing.assert_allclose(s["sink"][0], [0.9, (0.5 + 0) / (n - 1), np.mean([1 / (i + 1) for i in range(1, n)])])
    assert s["local"][0, 1] == pytest.approx(1 - 0.5 / (n - 1))  # query 1 gives half to the first token
    assert analysis.named_heads(s, "sink") == [(0, 0, pytest.approx(0.9))]
    assert [(layer, head) for layer, head, _ in analysis.named_heads(s, "local")] == [(0, 1)]  # uniform is neither
    assert s["sink_uniform"] == pytest.approx(np.mean(1 / np.arange(2, n + 1)))
    att = Attention(weights=w.astype(np.float32), tokens=[f"t{i}" for i in range(n)],
                    labels=[f"t{i}" for i in range(n)], special=[False] * n, segments=[0] * n, model="m",
                    revision="0", causal=True)
    page = draw.figure_page(att, build_spec({"model": "m", "view": "summary"}, "t"))
    named = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))["summary"]["named"]
    assert named[0] == "Sink heads (at least half of their attention on the first token): layer 0 head 0 (0.90)"
    assert named[1].startswith("Local heads (at least half of their attention within 2 tokens): layer 0 head 1 (0.9")


# ----------------------------------------------------------------------------------- options (spec)

def test_options_parse_and_refuse_clearly():
    s = spec(aggregate="Rollout", granularity="word", special_tokens="hide-raw", compare="layer:2", generate="4")
    assert (s.aggregate, s.granularity, s.special_tokens, s.compare, s.generate) == \
        ("rollout", "word", "hide-raw", ("layer", 2), 4)
    assert spec(compare="text:  Another   sentence ").compare == ("text", "Another sentence")
    assert spec(compare="head:max").compare == ("head", "max") and spec(compare="model:x/y").compare == ("model", "x/y")
    assert spec(generate="3").extraction_inputs()["generate"] == 3
    assert "aggregate" not in spec().render_options()  # plain figures keep their keys
    assert spec(aggregate="flow").render_options()["aggregate"] == "flow"
    assert "generate" not in spec(aggregate="flow").extraction_inputs()
    for options, option in [({"aggregate": "sum"}, "aggregate"), ({"granularity": "char"}, "granularity"),
                            ({"compare": "layers:1"}, "compare"), ({"compare": "head:-1"}, "compare"),
                            ({"compare": "text:"}, "compare"), ({"compare": "layer:2", "view": "bars"}, "compare"),
                            ({"generate": "0"}, "generate"), ({"generate": "2", "pair": "b"}, "generate"),
                            ({"aggregate": "rollout", "head": "3"}, "head"),
                            ({"special_tokens": "drop"}, "special_tokens")]:
        with pytest.raises(AttnvizError) as info:
            build_spec({"model": "m", **options}, "a b")
        assert info.value.option == option, options


# ------------------------------------------------------------------------------ real models: shared

@pytest.fixture(scope="module")
def minilm(minilm_path):
    return extract.extract(extract.resolve_model(minilm_path, None), SENTENCE)


@pytest.mark.parametrize("view", ["summary", "neuron"])
def test_views_refuse_what_does_not_apply_to_them(minilm, view):
    """Each view checks the options it cannot draw (the registry's protocol), naming the option."""
    with pytest.raises(AttnvizError, match=f"the {view} view shows") as info:
        draw.describe(minilm, spec(aggregate="rollout", view=view))
    assert info.value.option == "aggregate"


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    ref = extract.resolve_model(tiny_gpt2, None, allowed_root=os.path.dirname(tiny_gpt2))
    return {"cjk": extract.extract(ref, "今日はカレーライスを食べました。 The cat sat."),
            "gen": extract.extract(ref, "The cat sat on the", generate=6),
            "again": extract.extract(ref, "The cat sat on the", generate=6), "ref": ref}


def test_word_ids_for_wordpiece_byte_level_and_sentencepiece(minilm, gpt2, tmp_path):
    from models import make_tiny_t5

    words = minilm.meta["word_ids"]
    assert words[0] is None and words[-1] is None  # [CLS], [SEP]
    pieces = [lab for lab, w in zip(minilm.labels, words) if w == words[minilm.labels.index("un")]]
    assert "".join(pieces) == "unbelievably" and len(pieces) > 1
    # byte-level BPE: the pieces of one CJK character share a word
    cjk = gpt2["cjk"]
    for i, label in enumerate(cjk.labels):
        if label.startswith(CONTINUATION):
            assert cjk.meta["word_ids"][i] == cjk.meta["word_ids"][i - 1], (i, label)
    out = transform(cjk, spec(cjk.tokens[0], granularity="word"))
    assert "今日はカレーライスを食べました" in out.labels and "cat" in out.labels
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
    # SentencePiece (unigram + metaspace)
    path = make_tiny_t5(tmp_path / "t5")
    t5 = extract.extract(extract.resolve_model(path, None, allowed_root=str(tmp_path)), "The cat sat on the mat.",
                         max_new_tokens=2)
    merged = transform(t5, spec(granularity="word"))
    assert [x for x in merged.labels if not x.startswith("<") and not x.startswith("</")][:6] == \
        ["The", "cat", "sat", "on", "the", "mat."]


def test_word_level_minilm_rows_sum_to_one(minilm):
    out = transform(minilm, spec(granularity="word"))
    assert out.num_tokens == minilm.num_tokens - 4 and "unbelievably" in out.labels
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
    assert "words from" in draw.describe(minilm, spec(granularity="word"))
    raw = transform(minilm, spec(special_tokens="hide-raw"))
    assert raw.num_tokens == minilm.num_tokens - 2 and (raw.weights.sum(-1) < 1 - 1e-3).any()
    assert "not renormalised" in draw.describe(minilm, spec(special_tokens="hide-raw"))


def test_generation_is_greedy_deterministic_and_marked(gpt2, minilm_path):
    gen, again = gpt2["gen"], gpt2["again"]
    info = gen.meta["generated"]
    p = info["prompt"]
    assert p == len(extract.extract(gpt2["ref"], "The cat sat on the").tokens)
    assert info["new"] == 6 and gen.num_tokens == p + 6
    assert gen.tokens == again.tokens and np.array_equal(gen.weights, again.weights)
    assert gen.segments == [0] * p + [1] * 6 and gen.causal
    assert np.abs(np.triu(gen.weights, 1)).max() < 1e-6
    np.testing.assert_allclose(gen.weights.sum(-1), 1.0, atol=1e-4)
    # greedy: every generated token is the argmax of the language-model head on what precedes it
    import torch
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(gpt2["ref"].source).eval()
    ids = [int(i) for i in load_model(gpt2["ref"], "cpu", False).tokenizer.convert_tokens_to_ids(gen.tokens)]
    with torch.no_grad():
        logits = lm(torch.tensor([ids])).logits[0]
    assert [int(x) for x in logits[p - 1:-1].argmax(-1)] == ids[p:]
    assert "generated greedily" in draw.describe(gen, spec("The cat sat on the"))
    page = draw.figure_page(gen, spec("The cat sat on the"))
    assert json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))["boundary"] == p
    with pytest.raises(AttnvizError) as info:
        extract.extract(extract.resolve_model(minilm_path, None), "The cat", generate=2)
    assert info.value.option == "generate" and "causal" in str(info.value)


def test_every_new_option_renders_a_page_and_a_png(minilm, gpt2):
    for s, att in [(spec(aggregate="rollout"), minilm), (spec(aggregate="rollout", view="model"), minilm),
                   (spec(granularity="word", view="heads"), minilm), (spec(special_tokens="hide-raw", view="bars"), minilm),
                   (spec(view="summary"), minilm), (spec(compare="layer:0"), minilm),
                   (spec(compare="head:3", layer="2"), minilm), (spec(aggregate="flow"), gpt2["gen"]),
                   (spec(granularity="word", view="summary"), gpt2["gen"])]:
        page = draw.figure_page(att, s)
        png = draw.figure_png(att, s)
        assert page.startswith("<!DOCTYPE html>") and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, s
        assert draw.figure_height(att, s) > 100
    rolled = draw.describe(minilm, spec(aggregate="rollout", layer="2"))
    assert "rollout up to layer 2 of 6" in rolled and "mean of 12 heads" in rolled
    with pytest.raises(AttnvizError) as info:
        draw.figure_page(minilm, spec(compare="head:12"))
    assert info.value.option == "compare"


def test_flow_on_minilm_matches_the_analysis_and_refuses_long_input(minilm):
    out = transform(minilm, spec(aggregate="flow"))
    # flow up to layer l depends on layers 0..l only: the first three layers, computed on their own
    np.testing.assert_allclose(out.weights[:3, 0], analysis.attention_flow(minilm.weights[:3]), atol=1e-6)
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
    long = Attention(weights=np.full((6, 1, 40, 40), 1 / 40, np.float32), tokens=["x"] * 40, labels=["x"] * 40,
                     special=[False] * 40, segments=[0] * 40, model="m", revision="r")
    with pytest.raises(AttnvizError) as info:
        draw.figure_page(long, spec(aggregate="flow"))
    assert info.value.option == "aggregate" and "40 tokens" in str(info.value)


def test_builder_compares_two_sentences_and_models_and_caches(tmp_path, minilm_path, tiny_gpt2):
    from mkdocs_attnviz.pipeline import FigureBuilder
    from mkdocs_attnviz.settings import Settings

    builder = FigureBuilder(Settings(cache_dir=str(tmp_path / "cache"), models={MINILM: minilm_path}))
    same = spec(model=MINILM, compare="text:The cat sat on the mat because it was unbelievably hungry.")
    fig = builder.build(same)
    assert "A − B position by position (tokens differ at 1 of 18: tired/hungry)" in fig.description
    assert builder.stats["extractions"] == 2
    other = builder.build(spec(model=MINILM, compare="text:A dog."))
    assert "different tokens" in other.description and builder.stats["extractions"] == 3
    again = FigureBuilder(Settings(cache_dir=str(tmp_path / "cache"), models={MINILM: minilm_path}))
    assert again.build(same).cached and again.stats["extractions"] == 0
    # another model: extracted through the same pipeline (and cached); different tokens -> no difference panel
    models = Settings(cache_dir=str(tmp_path / "cache"), models={MINILM: minilm_path, "tiny-gpt2": tiny_gpt2})
    across = FigureBuilder(models).build(spec(model=MINILM, compare="model:tiny-gpt2", layer="last"))
    assert "B: model tiny-gpt2, layer 1 of 2 (last)" in across.description and "different tokens" in across.description
    page = builder.cache.read_render_file(fig.key, ".html").decode()
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    assert data["same_tokens"] and set(data["records"]) == {"a", "b"}
