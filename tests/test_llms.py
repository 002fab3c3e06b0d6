"""Today's architectures, tiny and random, built from configs: the attention through our attention function equals
the model's own eager attention; the neuron view's formula — f(q·k × scale) + bias under the mask, with the key/value
head each query head reads — recomputed here from the record alone equals it too; grouped-query attention, sliding
windows, soft caps and biases are described where the architecture has them; the neuron page and picture render;
T5/BART cross attention in the neuron view; generation; a clear refusal for DeBERTa's disentangled scores."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mkdocs_attnviz import draw, extract
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.views.neuron import row

SENTENCE = "The cat sat on the mat because it was tired."
#: architecture → (grouped-query key/value heads of 4, mask of each layer as (left, right), bias, soft cap)
EXPECTED = {
    "llama": (2, [(None, 0), (None, 0)], False, None),
    "mistral": (2, [(3, 0), (3, 0)], False, None),
    "qwen2": (2, [(None, 0), (3, 0)], False, None),
    "qwen3": (2, [(None, 0), (None, 0)], False, None),
    "gemma2": (2, [(3, 0), (None, 0)], False, 50.0),
    "phi3": (2, [(3, 0), (3, 0)], False, None),
    "gpt_neox": (4, [(None, 0), (None, 0)], False, None),
    "opt": (4, [(None, 0), (None, 0)], False, None),
    "bloom": (4, [(None, 0), (None, 0)], True, None),  # ALiBi, replayed (BLOOM computes attention itself)
    "falcon": (1, [(None, 0), (None, 0)], False, None),  # multi-query, through the interface (transformers 5)
    "modernbert": (4, [(None, None), (2, 2)], False, None),  # global, then local (|q − k| ≤ 2)
    "t5": (4, [(None, None), (None, None)], True, None),  # relative position bias
    "bart": (4, [(None, None), (None, None)], False, None),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each tiny model built once, on first use."""
    from models import BUILDERS, assert_far_from_uniform, make_tiny_llm

    root = tmp_path_factory.mktemp("llms")
    made: dict[str, str] = {}

    def get(kind: str) -> str:
        if kind not in made:
            path = root / kind
            model = BUILDERS[kind](path) if kind in BUILDERS else make_tiny_llm(kind, path)
            made[kind] = assert_far_from_uniform(model)
        return made[kind]

    get.root = root  # type: ignore[attr-defined]
    return get


def ref_of(built, kind):
    return extract.resolve_model(built(kind), None, allowed_root=str(built.root))


def spec(**options):
    options.setdefault("model", "m")
    return build_spec({k: str(v) for k, v in options.items()}, SENTENCE)


def eager(path: str, att, *, decoder_ids=None):
    """The model's own attention: eager implementation, ``output_attentions``, run here independently."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = tok(SENTENCE, return_tensors="pt")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0]) == att.tokens
    with torch.no_grad():
        if decoder_ids is not None:
            out = model(**enc, decoder_input_ids=torch.tensor([decoder_ids]), output_attentions=True)
            return {name: torch.stack(getattr(out, f"{name}_attentions"))[:, 0].numpy()
                    for name in ("encoder", "decoder", "cross")}
        return torch.stack(model(**enc, output_attentions=True).attentions)[:, 0].numpy()


def formula(att, name: str, prefix: str) -> np.ndarray:
    """softmax(f(q·k × scale) + bias) under the mask, from the record's arrays and description alone."""
    info = att.meta["qk"][name]
    q, k = att.arrays[f"{prefix}query"].astype(np.float64), att.arrays[f"{prefix}key"].astype(np.float64)
    L, H, nq, _ = q.shape
    k = np.repeat(k, H // info["kv_heads"], axis=1)  # query head h reads key/value head h // (H / KV)
    scores = np.einsum("lhqd,lhkd->lhqk", q, k) * np.asarray(info["scale"])[:, None, None, None]
    if info["softcap"]:
        caps = np.asarray(info["softcap"])[:, None, None, None]
        scores = np.tanh(scores / caps) * caps
    if info["bias"]:
        scores = scores + att.arrays[f"{prefix}bias"]
    nk = k.shape[2]
    offset = np.arange(nk)[None, :] - np.arange(nq)[:, None]
    for layer, mask in enumerate(info["masks"]):
        shut = np.zeros((nq, nk), dtype=bool)
        if mask.get("right") is not None:
            shut |= offset > mask["right"]
        if mask.get("left") is not None:
            shut |= offset < -mask["left"]
        scores[layer][:, shut] = -np.inf
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_neuron_view_on_todays_architectures(built, kind):
    kv, masks, has_bias, softcap = EXPECTED[kind]
    att = extract.extract(ref_of(built, kind), SENTENCE, qk=True, device="cpu", target="The dog sat.")
    encdec = kind in ("t5", "bart")
    name = "encoder" if encdec else "self"
    info = att.meta["qk"][name]
    # the attention we extracted is the model's own
    own = eager(built(kind), att, decoder_ids=att.meta["decoder"]["ids"] if encdec else None)
    np.testing.assert_allclose(att.weights, own["encoder"] if encdec else own, atol=1e-5)
    # and so is the neuron view's formula, from the record alone
    np.testing.assert_allclose(formula(att, name, ""), att.weights, atol=1e-4)
    # grouped-query attention, windows, bias and soft cap are described as the architecture has them
    assert (info["heads"], info["kv_heads"]) == (4, kv)
    assert att.arrays["key"].shape[1] == kv and att.arrays["query"].shape[1] == 4
    assert [(m["left"], m["right"]) for m in info["masks"]] == masks
    assert bool(info["bias"]) is has_bias and (info["softcap"] or [None])[0] == softcap
    assert att.causal is (masks[0][1] == 0)
    # the page: the view's numbers, every layer's vectors, and the same softmax the page computes
    page = draw.figure_page(att, spec(view="neuron", query="-1"))
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    assert data["qk"]["kv_heads"] == kv and data["qk"]["masks"] == info["masks"]
    assert len(re.findall(r'data-qk="key"', page)) == att.num_layers
    last = row(att, name, 1, 3, att.num_tokens - 1)
    assert last["kv"] == 3 // (4 // kv)
    np.testing.assert_allclose(last["softmax"], att.weights[1, 3, -1], atol=1e-4)
    assert draw.figure_png(att, spec(view="neuron", query="-1"))[:8] == b"\x89PNG\r\n\x1a\n"
    if encdec:  # cross attention (target × source) in the neuron view
        for part in ("cross", "decoder"):
            np.testing.assert_allclose(formula(att, part, f"{part}_"), own[part], atol=1e-4)
        page = draw.figure_page(att, spec(view="neuron", attention="cross", query="1"))
        data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
        assert data["set"] == "cross" and data["sets"]["cross"]["nk"] == att.num_tokens
        assert draw.figure_png(att, spec(view="neuron", attention="cross", query="1"))[:4] == b"\x89PNG"


@pytest.mark.parametrize("kind, replayed", [("bloom", True), ("falcon", False), ("llama", False)])
def test_only_bloom_is_replayed_as_docs_views_llms_says(built, kind, replayed, monkeypatch):
    """docs/views/llms.md names the architectures whose q and k the neuron view replays from the attention modules'
    inputs (they compute their attention outside transformers' interface): BLOOM only. Falcon goes through the
    interface, like every other architecture on that page."""
    from pathlib import Path

    from mkdocs_attnviz.extract import run

    replays = []
    original = run.capture_replay
    monkeypatch.setattr(run, "capture_replay", lambda *a, **k: replays.append(kind) or original(*a, **k))
    att = extract.extract(ref_of(built, kind), SENTENCE, qk=True, device="cpu")
    assert bool(replays) is replayed and att.meta["qk"]["self"]["heads"] == 4
    doc = (Path(__file__).parents[1] / "docs" / "views" / "llms.md").read_text(encoding="utf-8")
    assert "BLOOM computes its attention in its own code; for the neuron view attnviz replays its q and k" in doc
    assert "Falcon, multi-query, goes through the\ninterface like the others" in doc


def test_windows_are_masked_in_the_neuron_view(built):
    att = extract.extract(ref_of(built, "mistral"), SENTENCE, qk=True, device="cpu")
    r = row(att, "self", 0, 1, 8)  # a sliding window of 4: query 8 sees keys 5..8
    assert list(np.nonzero(r["allowed"])[0]) == [5, 6, 7, 8]
    assert r["softmax"][:5].sum() == 0 and abs(r["softmax"].sum() - 1) < 1e-6
    np.testing.assert_allclose(att.weights[0, 1, 8, :5], 0, atol=0)


def test_generation_on_a_current_architecture(built):
    att = extract.extract(ref_of(built, "qwen2"), SENTENCE, qk=True, generate=3, device="cpu")
    assert att.meta["generated"]["new"] == 3 and att.segments[-3:] == [1, 1, 1]
    np.testing.assert_allclose(formula(att, "self", ""), att.weights, atol=1e-4)
    page = draw.figure_page(att, spec(view="neuron", query="-1"))
    assert "generated greedily" in page


def test_deberta_is_refused_with_the_reason(built):
    ref = ref_of(built, "deberta-v2")
    with pytest.raises(AttnvizError) as info:
        extract.extract(ref, SENTENCE, qk=True, device="cpu")
    assert info.value.option == "view" and "disentangled" in str(info.value)
    att = extract.extract(ref, SENTENCE, device="cpu")  # its heatmap still works (the model's own weights)
    assert att.num_layers == 2 and np.allclose(att.weights.sum(-1), 1, atol=1e-4)


def test_a_mask_no_band_describes_is_kept_as_it_is():
    """A chunked mask (Llama 4's kind): kept whole, masked in the recomputed softmax and in the neuron view."""
    import torch

    from mkdocs_attnviz.attention import Attention
    from mkdocs_attnviz.extract import qk

    n = 6
    chunk = np.array([[k <= q and k // 3 == q // 3 for k in range(n)] for q in range(n)])
    mask = torch.where(torch.tensor(chunk), 0.0, torch.finfo(torch.float32).min)[None, None]
    torch.manual_seed(0)
    layer = qk.layer_qk(torch.randn(1, 2, n, 4), torch.randn(1, 1, n, 4), 0.5, None, None, mask)
    arrays, info = qk.pack([layer])
    assert info["masks"] == [{"explicit": 0}] and arrays["mask"].shape == (1, n, n) and info["kv_heads"] == 1
    w = qk.recompute(layer)
    assert (w[:, ~chunk] == 0).all() and np.allclose(w.sum(-1), 1)
    labels = [f"t{i}" for i in range(n)]
    att = Attention(weights=w[None], tokens=labels, labels=labels, special=[False] * n, segments=[0] * n,
                    model="m", revision="0", causal=True, meta={"qk": {"self": info}}, arrays=arrays)
    r = row(att, "self", 0, 1, 4)
    assert list(np.nonzero(r["allowed"])[0]) == [3, 4] and r["kv"] == 0
    np.testing.assert_allclose(r["softmax"], w[1, 4], atol=1e-6)
