"""Long inputs, scaled down: from ``attention.LONG_TOKENS`` tokens (lowered here to 8) the attention is quantised
and compressed layer by layer while the model runs, the cache keeps one file per layer, and the heatmap's page
loads each layer and head from a side file (with an overview beyond ``longinput.FULL_TOKENS``, lowered to 16) that
every host publishes; views that need every layer at once refuse clearly."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import attention, draw, extract
from mkdocs_attnviz.cache import Cache
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.extract import interface, stream
from mkdocs_attnviz.layers import quantize_rows
from mkdocs_attnviz.pipeline import FigureBuilder
from mkdocs_attnviz.settings import Settings
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.toolkit import page as kit
from mkdocs_attnviz.views import longinput

TEXT = "The cat sat on the mat because it was tired. The dog chased the cat around the garden."


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> str:
    from models import make_tiny_llm

    from models import assert_far_from_uniform

    # GQA and a window of 4
    return assert_far_from_uniform(make_tiny_llm("mistral", tmp_path_factory.mktemp("long") / "mistral"))


@pytest.fixture
def long(monkeypatch):
    """Long inputs from 8 tokens; an overview beyond 16 tokens, at most 8 blocks a side; detail within 12."""
    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    monkeypatch.setattr(longinput, "FULL_TOKENS", 16)
    monkeypatch.setattr(longinput, "OVERVIEW_CELLS", 8)
    monkeypatch.setattr(longinput, "DETAIL_TOKENS", 12)


def ref(path):
    return extract.resolve_model(path, None, allowed_root=str(path.rsplit("/", 1)[0]))


def spec(**options):
    options.setdefault("model", "llama")
    return build_spec({k: str(v) for k, v in options.items()}, TEXT)


def builder(tmp_path, llama) -> FigureBuilder:
    return FigureBuilder(Settings(cache_dir=str(tmp_path / "cache"), models={"llama": llama},
                                  allowed_root=str(tmp_path.parent)))


def test_streamed_layers_are_the_quantised_attention(llama, long):
    dense_ref = ref(llama)
    attention.LONG_TOKENS = 10_000
    dense = extract.extract(dense_ref, TEXT, device="cpu")
    attention.LONG_TOKENS = 8
    streamed = extract.extract(dense_ref, TEXT, device="cpu")
    store = streamed.weights
    assert streamed.layered and not dense.layered and store.shape == dense.weights.shape
    for layer in range(store.num_layers):
        heads = np.stack([store.matrix(layer, h) for h in range(store.num_heads)]).astype(int)
        assert np.abs(heads - quantize_rows(dense.weights[layer]).astype(int)).max() <= 1
        assert np.array_equal(store.matrix(layer, "max"), heads.max(0))
        assert np.abs(store.matrix(layer, "mean").astype(int) - quantize_rows(dense.weights[layer].mean(0))).max() <= 1
        np.testing.assert_allclose(store[layer], dense.weights[layer], atol=1 / 255)
    with pytest.raises(AttnvizError):
        np.asarray(store)  # never made whole


def test_chunked_attention_equals_the_models_own(llama, monkeypatch):
    """Tiny chunks of query rows, each over the key columns its mask leaves open (a window of 4)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setattr(interface, "CHUNK_ELEMENTS", 64)  # 64 // (4 heads × n keys) → one row at a time
    att = extract.extract(ref(llama), TEXT, device="cpu")
    tok = AutoTokenizer.from_pretrained(llama)
    model = AutoModel.from_pretrained(llama, attn_implementation="eager").eval()
    with torch.no_grad():
        own = torch.stack(model(**tok(TEXT, return_tensors="pt"), output_attentions=True).attentions)[:, 0].numpy()
    np.testing.assert_allclose(att.weights, own, atol=1e-5)


def test_long_cache_entries_one_file_per_layer(tmp_path, llama, long):
    att = extract.extract(ref(llama), TEXT, device="cpu")
    cache = Cache(tmp_path / "c")
    cache.put_attention("k" * 32, att)
    layers = sorted(p.name for p in (tmp_path / "c" / "extract" / "kk").glob("*.bin"))
    assert layers == [f"{'k' * 32}.l{i}.bin" for i in range(att.num_layers)]
    back = cache.get_attention("k" * 32)
    assert back.layered and back.tokens == att.tokens
    for layer in range(att.num_layers):
        assert back.weights.blobs(layer) == att.weights.blobs(layer)
    path = tmp_path / "c" / "extract" / "kk" / layers[1]
    path.write_bytes(path.read_bytes()[:-3] + b"bad")
    assert cache.get_attention("k" * 32) is None and "damaged" in cache.problems[-1]


def test_long_heatmap_pages_load_side_files(tmp_path, llama, long):
    b = builder(tmp_path, llama)
    fig = b.build(spec(layer="last", head="mean"))
    att = b.attention(spec())[1]
    n, L, H = att.num_tokens, att.num_layers, att.num_heads
    assert n > longinput.FULL_TOKENS  # so each layer and head also has an overview
    sides = [s for s in fig.files if s.endswith(".js") and not s.startswith("@")]
    assert len(sides) == 2 * L * (H + 2) and ".l1.mean.js" in sides and ".l1.mean.o.js" in sides
    out = tmp_path / "site"
    b.publish(out)
    page = (out / f"{fig.key}.html").read_text(encoding="utf-8")
    assert 'data-layer="' not in page and '"side":' in page
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    factor = longinput.overview_factor(n)
    assert data["side"] == {"prefix": fig.key, "factor": factor, "m": -(-n // factor), "detail": 12}
    ident, b64 = kit.side_payload((out / f"{fig.key}.l1.2.js").read_text(encoding="ascii"))
    assert ident == "l1.2"
    raw = np.frombuffer(zlib.decompress(__import__("base64").b64decode(b64)), np.uint8).reshape(n, n)
    assert np.array_equal(raw, att.weights.matrix(1, 2))
    overview = kit.side_payload((out / f"{fig.key}.l1.2.o.js").read_text(encoding="ascii"))[1]
    small = np.frombuffer(zlib.decompress(__import__("base64").b64decode(overview)), np.uint8)
    assert small.reshape(data["side"]["m"], -1).max() == raw.max()
    assert (out / f"{fig.key}.png").read_bytes()[:4] == b"\x89PNG"
    # a second build finds everything in the cache and publishes the same bytes
    again = builder(tmp_path, llama).build(spec(layer="last", head="mean"))
    assert again.cached and again.files == fig.files


def test_long_inputs_refuse_what_needs_every_layer(tmp_path, llama, long):
    b = builder(tmp_path, llama)
    for options, option in (({"view": "heads"}, "view"), ({"view": "summary"}, "view"), ({"head": "all"}, "head"),
                            ({"layer": "all"}, "layer"), ({"aggregate": "rollout"}, "aggregate"),
                            ({"special_tokens": "hide"}, "special_tokens"), ({"view": "neuron"}, "view")):
        with pytest.raises(AttnvizError) as info:
            b.build(spec(**options))
        assert info.value.option == option, options


def test_long_picture_pools_and_says_so(tmp_path, llama, long, monkeypatch):
    monkeypatch.setattr(longinput, "PICTURE_CELLS", 10)
    b = builder(tmp_path, llama)
    fig = b.prepared(spec(head="0"))
    image, future, factor = longinput.picture_image(fig, 1, 0)
    assert factor == 3 and image.shape == (10, 10) and future[0, 1] and not future[1, 0]
    assert image.max() == pytest.approx(fig.part.weights.matrix(1, 0).max() / 255)
    from mkdocs_attnviz.toolkit import mpl

    drawn = []
    save = mpl.save_figure
    monkeypatch.setattr(mpl, "save_figure", lambda out, **kw: drawn.append(out) or save(out, **kw))
    b.build(spec(head="0"))
    texts = " ".join(t.get_text().replace("\n", " ") for t in drawn[0].texts)
    note = f"{att_tokens(fig)} tokens, labelled every 1; each cell shows the largest weight of 3 × 3 tokens"
    assert note in texts, texts


def test_long_picture_puts_the_fonts_of_its_language_first(tmp_path, llama, long, monkeypatch):
    """As every other picture: the figure's language decides which CJK font comes first (Han characters differ)."""
    from mkdocs_attnviz.toolkit import mpl

    langs = []
    rc = mpl.rc
    monkeypatch.setattr(mpl, "rc", lambda font, lang=None, **kw: langs.append(lang) or rc(font, lang, **kw))
    builder(tmp_path, llama).build(spec(head="0", lang="ja"))
    assert langs and set(langs) == {"ja"}, langs


def att_tokens(fig) -> int:
    return fig.record.num_tokens


def test_page_without_a_site_holds_its_side_data(tmp_path, llama, long):
    att = extract.extract(ref(llama), TEXT, device="cpu")
    page = draw.figure_page(att, spec())
    assert page.count('<script type="application/octet-stream" data-side="') == 2 * att.num_layers * (att.num_heads + 2)
    fake = ('<html><head><script>\nbokeh()</script></head><body><script type="application/json" id="attnviz-data">'
            '{}</script><script src="view.js"></script></body></html>')
    published = kit.inline_sides(fake, [kit.side_script("l0.mean", b"x").decode()])
    assert published.index('id="attnviz-data"') < published.index('data-side="l0.mean"') < published.index("view.js")
    with pytest.raises(AttnvizError, match="not an attnviz figure page"):
        kit.inline_sides("<html><body><script>\nrun()</script></body></html>", [])


def test_attention_function_with_broadcast_masks_and_bias(monkeypatch):
    """Masks and biases that broadcast over queries (1 row) or heads, chunk by chunk, as eager computes them."""
    import torch

    monkeypatch.setattr(interface, "CHUNK_ELEMENTS", 16)
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 6, 3), torch.randn(1, 2, 6, 3), torch.randn(1, 2, 6, 3)
    mask = torch.zeros(1, 1, 1, 6)
    mask[..., 2] = torch.finfo(torch.float32).min  # a padded key, for every query
    bias = torch.randn(1, 4, 1, 6)  # per head and key (ALiBi-like)
    out, weights = interface._attention(object(), q, k, v, mask, scaling=0.5, position_bias=bias)
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    expected = torch.softmax(q @ kk.transpose(2, 3) * 0.5 + bias + mask, -1) @ vv
    assert weights is None
    torch.testing.assert_close(out, expected.transpose(1, 2), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind, streams", [("bloom", False), ("falcon", True), ("llama", True)])
def test_where_the_memory_bound_does_not_hold(tmp_path, kind, streams, long, monkeypatch):
    """docs/views/llms.md says exactly which architecture holds every layer's float32 weights at once for a long
    input (output_attentions, then pack_dense): BLOOM; the others (Falcon included) stream, layer by layer."""
    from models import make_tiny_llm

    from mkdocs_attnviz.extract import run

    path = make_tiny_llm(kind, tmp_path / kind)
    dense_packs = []
    monkeypatch.setattr(run, "pack_dense", lambda weights: dense_packs.append(weights.shape) or
                        stream.pack_dense(weights))
    att = extract.extract(ref(path), TEXT)
    assert att.layered  # a long input (from 8 tokens here)
    assert (not dense_packs) == streams
    if not streams:  # the whole (layers, heads, n, n) array was held
        n = att.weights.shape[2]
        assert dense_packs == [(2, 4, n, n)]
    doc = (Path(__file__).parents[1] / "docs" / "views" / "llms.md").read_text(encoding="utf-8")
    assert "Where the bound does not hold: BLOOM." in doc
