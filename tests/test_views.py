"""The views (heatmap additions, bars, heads, model, neuron), data= input, encoder-decoder sets, causal
masking, pairs, CJK and the classic recipe: on the real MiniLM and tiny models built from configs."""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import draw, extract
from mkdocs_attnviz.prepare import parts_of
from mkdocs_attnviz.toolkit import mpl
from mkdocs_attnviz.toolkit import page as kit
from mkdocs_attnviz.toolkit.colors import palette
from mkdocs_attnviz.views.base import pair_boundary
from mkdocs_attnviz.views.heatmap import values_on
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.spec import build_spec

SAMPLE = Path("/work/shared/samples/classic_heatmap.json")
SENTENCE = "The cat sat on the mat because it was tired."
JAPANESE = "今日はカレーライスを食べました。明日はラーメンを食べようと思います。"
CLASSIC = {
    "tokens": ["Transformers", "help", "models", "focus", "on", "important", "words."],
    "attention": [[0.20, 0.10, 0.05, 0.10, 0.25, 0.10, 0.20], [0.05, 0.30, 0.10, 0.10, 0.15, 0.20, 0.10],
                  [0.10, 0.15, 0.35, 0.10, 0.10, 0.10, 0.10], [0.10, 0.10, 0.10, 0.30, 0.10, 0.15, 0.15],
                  [0.15, 0.10, 0.10, 0.10, 0.30, 0.10, 0.15], [0.10, 0.10, 0.15, 0.10, 0.10, 0.35, 0.10],
                  [0.20, 0.15, 0.10, 0.10, 0.10, 0.10, 0.25]],
}


def pixels(data: bytes) -> np.ndarray:
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(io.BytesIO(data), format="png")[..., :3]


def has_colour(px: np.ndarray, hex_colour: str, tol: float = 0.05) -> int:
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(px - rgb).max(-1) < tol).sum())


def spec(body=SENTENCE, **options):
    options.setdefault("model", "m")
    return build_spec({k: str(v) for k, v in options.items()}, body)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    ref = extract.resolve_model(minilm_path, None)
    return extract.extract(ref, SENTENCE, qk=True)


@pytest.fixture(scope="module")
def minilm_pair(minilm_path):
    ref = extract.resolve_model(minilm_path, None)
    return extract.extract(ref, "The cat sat on the mat.", "The cat lay on the rug.")


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    ref = extract.resolve_model(tiny_gpt2, None, allowed_root=os.path.dirname(tiny_gpt2))
    return extract.extract(ref, JAPANESE, qk=True)


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    from models import make_tiny_bart

    path = make_tiny_bart(tmp_path_factory.mktemp("tiny-bart"))
    ref = extract.resolve_model(path, None, allowed_root=os.path.dirname(path))
    return (extract.extract(ref, "The cat sat on the mat.", max_new_tokens=6),
            extract.extract(ref, "The cat sat on the mat.", target="The dog sat."))


# ----------------------------------------------------------------------------------------------- spec

def test_new_options_parse_and_validate():
    s = spec(view="bars", values="no", colormap="Magma", style="classic", query="-1", theme="dark",
             font="DejaVu Serif", attention="cross", max_new_tokens="5", target="Le chat.")
    assert (s.view, s.values, s.colormap, s.style, s.query, s.theme) == ("bars", "false", "magma", "classic", -1, "dark")
    assert (s.attention, s.max_new_tokens, s.target, s.font) == ("cross", 5, "Le chat.", "DejaVu Serif")
    assert spec(query="it").query == "it"
    assert build_spec({"data": "x.json", "tokens": "a | b c"}, "").tokens == ("a", "b c")
    assert build_spec({"data": "x.json"}, "a b", defaults={"model": "m"}).model == ""
    for options, option in [({"view": "graph"}, "view"), ({"values": "maybe"}, "values"),
                            ({"colormap": "jet2"}, "colormap"), ({"theme": "blue"}, "theme"),
                            ({"attention": "self"}, "attention"), ({"max_new_tokens": "0"}, "max_new_tokens"),
                            ({"filter": "AB"}, "filter"), ({"data": "x.txt"}, "data"), ({"tokens": "a b"}, "tokens"),
                            ({"data": "x.npy", "pair": "b"}, "pair")]:
        with pytest.raises(AttnvizError) as info:
            build_spec({"model": "m", **options}, "a b")
        assert info.value.option == option, options
    # options that change extraction go into the extraction inputs; the others into the render options
    from mkdocs_attnviz.pipeline import extraction_inputs

    assert "target" in spec(target="x").extraction_inputs() and "qk" in extraction_inputs(spec(view="neuron"))
    assert "qk" not in extraction_inputs(spec(view="heads"))
    assert spec().extraction_inputs() == {"model": "m", "revision": None, "text": SENTENCE, "pair": None,
                                          "max_tokens": None}
    for key in ("values", "colormap", "style", "query", "theme", "font", "filter", "attention"):
        assert key in spec().render_options()


# ---------------------------------------------------------------------------------------- heatmap

def test_heatmap_values_colormap_and_pngs(minilm):
    s = spec()
    assert values_on(s, minilm.num_tokens)  # 13 tokens: values on by default
    page = draw.figure_page(minilm, s)
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    assert data["values"] is True and data["theme"] == "auto"
    off = draw.figure_png(minilm, spec(values="false"))
    on = draw.figure_png(minilm, s)
    assert on != off
    # the numbers are drawn: many more white/black text pixels inside the grid with values on
    assert has_colour(pixels(on), "#ffffff", 0.02) > has_colour(pixels(off), "#ffffff", 0.02)
    magma = pixels(draw.figure_png(minilm, spec(colormap="magma", values="false")))
    assert has_colour(magma, "#fcfdbf", 0.06) > 20 and has_colour(magma, "#fde725", 0.03) == 0
    assert palette("magma")[-1] == "#fcfdbf" and len(palette("greys")) == 256
    assert '"#fcfdbf"' in draw.figure_page(minilm, spec(colormap="magma")).lower()


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "docs" / "data").mkdir(parents=True)
    payload = json.loads(SAMPLE.read_text()) if SAMPLE.is_file() else CLASSIC
    (root / "docs" / "data" / "classic.json").write_text(json.dumps(payload))
    return root


def test_classic_recipe_is_reproduced_pixel_for_pixel(sample_file):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mkdocs_attnviz.pipeline import FigureBuilder
    from mkdocs_attnviz.settings import Settings

    root = sample_file
    builder = FigureBuilder(Settings(cache=False, base_dir=str(root), allowed_root=str(root),
                                     docs_dir=str(root / "docs")))
    s = build_spec({"data": "data/classic.json", "style": "classic", "caption": "Attention heatmap"},
                   "Transformers help models focus on important words.")
    s = builder.resolve_inputs(s, page_dir=str(root / "docs"))
    _, att = builder.attention(s)
    assert att.labels == CLASSIC["tokens"] and att.meta["warnings"] == []
    ours = draw.figure_png(att, s)

    # the literal recipe people copy
    tokens, attention = CLASSIC["tokens"], np.array(CLASSIC["attention"])
    plt.figure(figsize=(8, 6))
    plt.imshow(attention, cmap="viridis")
    plt.xticks(range(len(tokens)), tokens, rotation=45, ha="right")
    plt.yticks(range(len(tokens)), tokens)
    plt.colorbar(label="Attention weight")
    plt.title("Attention heatmap")
    plt.xlabel("Key tokens")
    plt.ylabel("Query tokens")
    plt.tight_layout()
    buf = io.BytesIO()
    plt.savefig(buf, format="png")
    plt.close("all")
    a, b = pixels(ours), pixels(buf.getvalue())
    assert a.shape == b.shape == (600, 800, 3)
    assert np.array_equal(a, b)  # pixel-identical


def test_data_inputs_are_validated(tmp_path):
    from mkdocs_attnviz import datafile as vdata

    root = tmp_path / "project"
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    m = np.array(CLASSIC["attention"])
    np.save(docs / "m.npy", m)
    np.savetxt(docs / "sub" / "m.csv", m, delimiter=",")
    (docs / "stack.json").write_text(json.dumps(np.stack([[m, m], [m, m]]).tolist()))
    (root / "outside.json").write_text("[[1]]")
    os.symlink(root / "outside.json", docs / "link.json")
    (tmp_path / "secret.json").write_text("[[1]]")
    os.symlink(tmp_path / "secret.json", docs / "escape.json")
    toks = CLASSIC["tokens"]

    def load(name, page_dir=docs, tokens=toks):
        path = vdata.resolve(name, page_dir=str(page_dir), docs_dir=str(docs), root=str(root))
        return vdata.load(path, tokens=tokens, text=" ".join(toks), name=name)

    assert load("m.npy").weights.shape == (1, 1, 7, 7)
    assert load("m.csv", page_dir=docs / "sub").weights.shape == (1, 1, 7, 7)
    assert load("../m.npy", page_dir=docs / "sub").num_tokens == 7  # .. that stays inside is fine
    assert load("stack.json").weights.shape == (2, 2, 7, 7)
    assert load("link.json", tokens=["x"]).num_tokens == 1  # a symlink inside the project is fine
    for name, words in [("/etc/passwd.json", "absolute"), ("../../secret.json", "outside the project"),
                        ("escape.json", "outside the project"), ("nope.json", "no such file")]:
        with pytest.raises(AttnvizError, match=words) as info:
            load(name)
        assert info.value.option == "data"
    bad = {"short.json": ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], "3 × 3 but there are 2 tokens"), "neg.json": ([[-0.1, 1.1], [0.5, 0.5]], "negative"),
           "big.json": ([[2.0, 0.0], [0.5, 0.5]], "above 1"), "nan.json": ([[float("nan"), 1], [0.5, 0.5]], "NaN"),
           "rect.json": ([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], "square")}
    for name, (matrix, words) in bad.items():
        (docs / name).write_text(json.dumps(matrix))
        with pytest.raises(AttnvizError, match=words):
            load(name, tokens=["a", "b"])
    (docs / "sums.json").write_text(json.dumps([[0.2, 0.2], [0.5, 0.5]]))
    att = load("sums.json", tokens=["a", "b"])
    assert att.meta["warnings"] and "do not sum to 1" in att.meta["warnings"][0]


# ----------------------------------------------------------------------------------------- views

@pytest.mark.parametrize("view, options", [("bars", {}), ("bars", {"query": "it"}), ("heads", {}),
                                           ("heads", {"head": "3"}), ("model", {}), ("neuron", {"query": "it"})])
def test_every_view_renders_a_page_and_a_real_png(minilm, view, options):
    s = spec(view=view, **options)
    page = draw.figure_page(minilm, s)
    assert "<canvas" not in page  # drawn by the script, not shipped
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    assert data["view"] == view and data["sets"]["self"]["nq"] == minilm.num_tokens
    blocks = re.findall(r'data-set="self" data-layer="(\d+)">([^<]*)<', page)
    assert len(blocks) == minilm.num_layers
    decoded = kit.unpack_layer(blocks[-1][1], minilm.num_heads, minilm.num_tokens)
    assert np.abs(decoded - minilm.weights[-1]).max() <= 1 / 510 + 1e-6
    px = pixels(draw.figure_png(minilm, s))
    assert px.std() > 0.05 and px.shape[0] > 250
    if view == "bars":
        assert has_colour(px, "#3355cc") > 500  # the bars
    if view == "heads":
        assert has_colour(px, "#1f77b4", 0.25) + has_colour(px, "#d62728", 0.25) > 50  # head-coloured lines
    if view == "model":
        assert px.shape[1] > 900  # the 6 × 12 grid
    if view == "neuron":
        assert data["qk"]["d"] == 32 and len(re.findall(r'data-qk="(query|key)"', page)) == 2 * minilm.num_layers
    assert draw.figure_height(minilm, s) > 200


def test_neuron_vectors_recompute_the_attention(minilm, gpt2, tiny_gpt2, tmp_path):
    from models import make_tiny_roberta

    checked = [(minilm, False), (gpt2, True)]
    path = make_tiny_roberta(tmp_path / "roberta")
    checked.append((extract.extract(extract.resolve_model(path, None, allowed_root=str(tmp_path)),
                                    "The cat sat on the mat.", qk=True), False))
    for att, causal in checked:
        q, k = att.arrays["query"], att.arrays["key"]
        d = q.shape[-1]
        scores = np.einsum("lhqd,lhkd->lhqk", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(d)
        if causal:
            n = scores.shape[-1]
            scores[..., np.triu(np.ones((n, n), dtype=bool), k=1)] = -np.inf
        e = np.exp(scores - scores.max(-1, keepdims=True))
        softmax = e / e.sum(-1, keepdims=True)
        assert att.causal is causal
        np.testing.assert_allclose(softmax, att.weights, atol=2e-5)
    assert minilm.meta["qk"]["self"]["scale"][0] == pytest.approx(32 ** -0.5)


def test_causal_future_is_masked_not_zero(gpt2):
    assert gpt2.causal
    s = spec(JAPANESE, values="false")
    page = draw.figure_page(gpt2, s)
    assert '"causal":true' in page and "attnviz-masked" in page
    px = pixels(draw.figure_png(gpt2, s))
    assert has_colour(px, "#d0d0d0", 0.02) > 2000  # the masked triangle is grey, not viridis purple


def test_cjk_labels_render_without_missing_glyphs(gpt2, minilm_path):
    ref = extract.resolve_model(minilm_path, None)
    bert = extract.extract(ref, JAPANESE)
    for att in (gpt2, bert):
        assert any("今" in lab or "カ" in lab for lab in att.labels)
        for view in ("heatmap", "bars", "heads"):
            with mpl.missing_glyphs() as missing:  # what the build reports as "no glyph in any installed font"
                px = pixels(draw.figure_png(att, spec(JAPANESE, view=view)))
            assert missing == set() and has_colour(px, "#000000", 0.3) > 50
    # an explicit font that lacks the glyphs still falls back to the CJK font
    with mpl.missing_glyphs() as missing:
        draw.figure_png(bert, spec(JAPANESE, font="DejaVu Serif"))
    assert missing == set()


def test_pairs_draw_the_boundary(minilm_pair):
    s = spec("The cat sat on the mat.", pair="The cat lay on the rug.", values="false")
    assert pair_boundary(minilm_pair.segments) == minilm_pair.segments.index(1)
    page = draw.figure_page(minilm_pair, s)
    assert "attnviz-boundary-x" in page
    assert has_colour(pixels(draw.figure_png(minilm_pair, s)), "#ff4040", 0.08) > 100
    heads = draw.figure_page(minilm_pair, spec("The cat sat on the mat.", view="heads",
                                                pair="The cat lay on the rug.", filter="BA"))
    assert '"filter":"ba"' in heads


def test_encoder_decoder_sets(bart):
    generated, forced = bart
    for att in (generated, forced):
        sets = parts_of(att)
        assert list(sets) == ["encoder", "decoder", "cross"]
        enc, dec, cross = sets["encoder"], sets["decoder"], sets["cross"]
        T, S = len(dec.q.labels), len(enc.q.labels)
        assert cross.weights.shape[2:] == (T, S) and dec.weights.shape[2:] == (T, T)  # cross is target × source
        assert dec.causal and np.abs(np.triu(dec.weights, k=1)).max() < 1e-6
        np.testing.assert_allclose(cross.weights.sum(-1), 1.0, atol=1e-4)
    assert forced.meta["decoder"]["how"] == "target" and "dog" in forced.meta["decoder"]["labels"]
    assert generated.meta["decoder"]["how"] == "generated" and len(generated.meta["decoder"]["ids"]) <= 7
    for attention in ("encoder", "decoder", "cross"):
        for view in ("heads", "bars", "model") + (("heatmap",) if attention != "cross" else ()):
            s = spec("The cat sat on the mat.", view=view, attention=attention)
            page = draw.figure_page(forced, s)
            assert '"set":"%s"' % attention in page or view == "heatmap"
            assert pixels(draw.figure_png(forced, s)).std() > 0.03
    assert "cross-attention (target × source)" in draw.describe(forced, spec("x", view="heads", attention="cross"))
    with pytest.raises(AttnvizError) as info:
        draw.figure_page(forced, spec("x", attention="cross"))  # the heatmap is square-only for now
    assert info.value.option == "attention"


def test_cache_round_trip_keeps_the_extra_arrays(tmp_path, bart, minilm):
    from mkdocs_attnviz.cache import Cache

    cache = Cache(tmp_path / "c")
    for att in (bart[1], minilm):
        cache.put_attention("k" * 32, att)
        back = cache.get_attention("k" * 32)
        assert set(back.arrays) == set(att.arrays)
        for name in att.arrays:
            assert np.abs(back.arrays[name] - att.arrays[name]).max() < 2e-3
        assert back.meta == json.loads(json.dumps(att.meta))
