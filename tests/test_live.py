"""Live figures, the build's side (``live="true"``): the model exported to ONNX with its attentions, checked against
transformers' eager attention, quantised, cached and published with the vendored runtime — on the real packaged MiniLM.
The browser's side (the box, tokenizing and running in Chromium, the redraw) is tests/test_browser_live.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import live
from mkdocs_attnviz.cache import Cache
from mkdocs_attnviz.extract import resolve_model
from test_mkdocs import WARM_CHECK  # the warm build run in a fresh process; prints the heavy modules it imported

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parent.parent
AUTHOR = "The cat sat on the mat."
#: sentences the export is checked on besides the author's: Japanese, German, emoji, one word, a long one
OTHERS = ["猫がマットの上に座った。", "Der schnelle braune Fuchs springt über den faulen Hund, während die Katze schläft.",
          "😀 emojis & symbols: 3.14 × 2 = 6.28!", "Hi",
          "The bank of the river was steep, so we walked along the bank until the path turned into the old village."]


@pytest.fixture(scope="module")
def minilm_ref(minilm_path):
    return resolve_model("minilm", None, models={"minilm": minilm_path})


@pytest.fixture(scope="module")
def exported(minilm_ref, tmp_path_factory):
    """MiniLM exported once for this module's tests: (folder, Exported, loaded model)."""
    from mkdocs_attnviz.extract import load, onnx_export

    loaded = load.load_model(minilm_ref, "cpu", False)
    folder = tmp_path_factory.mktemp("export")
    done = onnx_export.export(loaded, "minilm", folder, [(AUTHOR, None)])
    return folder, done, loaded


def eager(loaded, text):
    """transformers' eager attention of MiniLM for ``text``, straight from the model: (layers, heads, n, n)."""
    import torch

    enc = loaded.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = loaded.model(**enc, output_attentions=True)
    return torch.stack(out.attentions)[:, 0].numpy(), {k: v.numpy() for k, v in enc.items()}


def test_the_export_equals_eager_attention_within_its_bound(exported):
    import onnxruntime as ort

    folder, done, loaded = exported
    assert done.quant == "int8" and done.bound == 0.02
    assert done.inputs == ["input_ids", "attention_mask", "token_type_ids"]
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["attentions"]
    worst = {}
    for text in [AUTHOR, *OTHERS]:
        want, feed = eager(loaded, text)
        got = session.run(["attentions"], {k: feed[k].astype(np.int64) for k in done.inputs})[0]
        assert got.shape == want.shape == (6, 12, feed["input_ids"].shape[1], feed["input_ids"].shape[1]), text
        worst[text] = float(np.abs(got - want).max())
        assert np.allclose(got.sum(-1), 1, atol=1e-3), text  # rows are still distributions
    assert max(worst.values()) <= done.bound, worst
    # measured: the worst over the author's sentence and the export's probes (onnx_export.PROBES)
    assert worst[AUTHOR] <= done.measured + 1e-6
    # the check can fail: the int8 file is not the float model (a bound of zero would be broken)
    assert min(worst.values()) > 1e-4, worst


def test_the_export_is_int8_and_a_third_of_the_float_weights(exported):
    folder, done, loaded = exported
    float_bytes = 4 * sum(p.numel() for p in loaded.model.parameters())
    size = (folder / "model.onnx").stat().st_size
    assert size < float_bytes / 3, (size, float_bytes)
    import onnx

    model = onnx.load(str(folder / "model.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert "MatMulNBits" in ops and "DynamicQuantizeLinear" not in ops  # weights only: activations stay float32
    tables = [i for i in model.graph.initializer if i.name.endswith("_q8")]
    assert tables and all(t.data_type == onnx.TensorProto.INT8 for t in tables)
    halves = [i for i in model.graph.initializer if i.name.endswith("_f16")]  # query/key projections, positions
    assert len(halves) == 2 * 6 + 1 and all(t.data_type == onnx.TensorProto.FLOAT16 for t in halves)


def test_the_export_names_no_path_of_the_build_machine(exported):
    folder, done, _ = exported
    for name in ("model.onnx", "tokenizer.json"):
        data = (folder / name).read_bytes()
        for root in {str(ROOT), os.path.realpath(ROOT), sys.prefix, os.path.expanduser("~")}:
            assert root.encode() not in data, (name, root)
    assert not any(isinstance(v, str) and v.startswith("/") for v in done.tokenizer_config.values())
    assert done.special["tokens"] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_a_warm_build_reuses_the_export_and_imports_no_torch_or_onnx(site):
    site.page("index.md", f'```attnviz live="true"\n{AUTHOR}\n```\n\n```attnviz\n{AUTHOR}\n```\n')
    cfg = site.config()
    site.build(strict=True)
    out = site.site / "assets/attnviz"
    keys = [p.name for p in (out / live.LIVE_DIR).iterdir()]
    assert len(keys) == 1
    manifest = json.loads((out / live.LIVE_DIR / keys[0] / "live.json").read_text(encoding="utf-8"))
    assert manifest["version"] == 1 and manifest["quant"] == "int8" and manifest["measured"] <= manifest["bound"]
    assert (manifest["layers"], manifest["heads"], manifest["output"]) == (6, 12, "attentions")
    for item in manifest["files"].values():  # the manifest describes the published files
        data = (out / live.LIVE_DIR / keys[0] / item["name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (item["bytes"], item["sha256"])
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}
    datas = [json.loads(re.search(r'id="attnviz-data"[^>]*>(.*?)</script>', h, re.S).group(1)) for h in pages.values()]
    lives = sorted((d["live"] is not None for d in datas))
    assert lives == [False, True]
    info = next(d["live"] for d in datas if d["live"])
    assert info == {"manifest": f"live/{keys[0]}/live.json", "runtime": "runtime/", "reason": None}
    assert sum("attnviz-live.js" in h for h in pages.values()) == 1  # only the live figure loads the box's script
    for name in live.runtime_files():
        assert (out / live.RUNTIME_DIR / name).stat().st_size > 0, name
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    proc = subprocess.run([sys.executable, "-c", WARM_CHECK, str(cfg)], capture_output=True, text=True, cwd=site.root,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout, proc.stdout
    assert "2 from cache, 0 rendered, 0 model runs, 0 errors" in proc.stderr
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert first == second


def test_a_site_without_live_figures_publishes_no_model_or_runtime(site):
    site.page("index.md", f'```attnviz\n{AUTHOR}\n```\n')
    site.config()
    site.build(strict=True)
    out = site.site / "assets/attnviz"
    assert not (out / live.LIVE_DIR).exists() and not (out / live.RUNTIME_DIR).exists()
    page = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert '"live":null' in page and "attnviz-live.js" not in page


def test_the_cache_entry_is_checked_and_a_changed_file_is_exported_again(tmp_path, minilm_ref):
    """A manifest without this machine's MAC, or a file whose bytes changed, is not used (a committed cache is
    untrusted); nothing is found until the manifest, written last, is there."""
    cache = Cache(tmp_path / "cache")
    key = "ab" * 16
    files = {"model.onnx": b"model bytes", "tokenizer.json": b"{}"}
    assert cache.get_live(key) is None
    cache.put_live(key, files, {"version": 1})
    got = cache.get_live(key)
    assert got is not None and got["model.onnx"] == b"model bytes"
    folder = tmp_path / "cache" / "live" / key[:2] / key
    (folder / "model.onnx").write_bytes(b"model bytez")
    assert cache.get_live(key) is None and cache.problems
    cache.put_live(key, files, {"version": 1})
    manifest = json.loads((folder / "live.json").read_text())
    manifest["quant"] = "float32"  # edited by hand: the MAC no longer matches
    (folder / "live.json").write_text(json.dumps(manifest))
    assert cache.get_live(key) is None
    assert live.live_key(minilm_ref) == live.live_key(minilm_ref) != key


def test_a_model_that_cannot_go_live_is_named_with_page_line_and_option(site, smollm2_file, caplog):
    site.page("index.md", '# T\n\n```attnviz model="smol" live="true"\nThe cat.\n```\n')
    site.config(plugin=f"models:\n  smol: {smollm2_file}")
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert re.search(r"docs/index\.md:3: option 'live': model 'smol' is a GGUF file: live figures export Hugging "
                     r"Face model folders", caplog.text), caplog.text


def test_a_figure_that_cannot_show_another_sentence_says_why(site, caplog):
    site.page("index.md", f'```attnviz live="true" granularity="word"\n{AUTHOR}\n```\n\n'
                          f'```attnviz live="true" view="summary"\n{AUTHOR}\n```\n')
    site.config()
    site.build(strict=False)
    assert "docs/index.md:1: option 'live': cannot go live: This figure transforms the attention" in caplog.text
    assert "docs/index.md:5: option 'live': cannot go live: This view cannot show another sentence" in caplog.text
    out = site.site / "assets/attnviz"
    assert not (out / live.LIVE_DIR).exists()  # nothing exported for figures that cannot use it


def test_a_bad_live_value_names_the_option(site, caplog):
    site.page("index.md", f'```attnviz live="maybe"\n{AUTHOR}\n```\n')
    site.config()
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert "docs/index.md:1: option 'live':" in caplog.text


def test_the_site_default_turns_every_figure_live(site):
    site.page("index.md", f'```attnviz\n{AUTHOR}\n```\n')
    site.config(plugin='defaults:\n  model: sentence-transformers/all-MiniLM-L6-v2\n  live: true')
    site.build(strict=True)
    page = next((site.site / "assets/attnviz").glob("*.html")).read_text(encoding="utf-8")
    assert '"live":{"manifest":"live/' in page


def test_the_vendored_runtime_is_node_modules_copy_at_the_pinned_versions():
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    modules = ROOT / "node_modules"
    if not modules.exists():
        pytest.skip("node_modules is not installed (scripts/setup runs npm ci)")
    for name, (package, path) in live.RUNTIME.items():
        installed = json.loads((modules / package / "package.json").read_text())["version"]
        assert pins[package] == installed, package
        assert (live.VENDOR_DIR / name).read_bytes() == (modules / package / path).read_bytes(), name
    for name in live.RUNTIME_LICENSES:
        text = (live.VENDOR_DIR / name).read_text(encoding="utf-8")
        assert "Permission is hereby granted" in text or "Apache License" in text, name
    assert set(live.runtime_files()) == {p.name for p in live.VENDOR_DIR.iterdir()}


@pytest.mark.parametrize("options, reason", [
    ({}, None), ({"pair": "A second sentence."}, "pair"), ({"granularity": "word"}, "transform"),
    ({"aggregate": "rollout"}, "transform"), ({"special_tokens": "hide"}, "transform"),
    ({"special_tokens": "hide-raw"}, "transform"), ({"generate": "3"}, "generate"), ({"view": "summary"}, "view"),
    ({"view": "neuron"}, "view"), ({"view": "bars"}, None), ({"view": "heads"}, None), ({"view": "model"}, None),
])
def test_which_figures_can_show_another_sentence(options, reason):
    from types import SimpleNamespace

    from mkdocs_attnviz import views
    from mkdocs_attnviz.spec import build_spec

    spec = build_spec({"model": "m", "live": "true", **options}, AUTHOR)
    record = SimpleNamespace(meta={}, layered=False)
    assert live.refusal(spec, views.get(views.name_for(spec)), record) == reason
    assert live.refusal(build_spec({"model": "m"}, AUTHOR), views.get("heatmap"),
                        SimpleNamespace(meta={"is_encoder_decoder": True}, layered=False)) == "generate"
    assert live.refusal(build_spec({"model": "m"}, AUTHOR), views.get("heatmap"),
                        SimpleNamespace(meta={}, layered=True)) == "long"


def test_a_site_of_self_contained_pages_says_why_it_cannot_go_live(site):
    site.page("index.md", f'```attnviz live="true"\n{AUTHOR}\n```\n')
    site.config(plugin="resources: inline")
    site.build(strict=True)
    out = site.site / "assets/attnviz"
    assert not (out / live.LIVE_DIR).exists() and not (out / live.RUNTIME_DIR).exists()
    page = next(out.glob("*.html")).read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="attnviz-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert data["live"]["reason"] == live.LIVE_INLINE and not data["live"]["manifest"]


@pytest.mark.parametrize("host, resources, reason", [("sphinx", "local", live.LIVE_SPHINX),
                                                     ("zensical", "local", live.LIVE_INLINE),
                                                     ("notebook", "inline", live.LIVE_INLINE)])
def test_hosts_that_publish_no_model_say_why(tmp_path, minilm_path, host, resources, reason):
    from mkdocs_attnviz.pipeline import FigureBuilder
    from mkdocs_attnviz.settings import build_settings
    from mkdocs_attnviz.spec import build_spec

    settings = build_settings({"cache_dir": str(tmp_path / "cache"), "models": {"minilm": minilm_path},
                               "resources": resources}, tmp_path, host=host)
    builder = FigureBuilder(settings)
    figure = builder.build(build_spec({"model": "minilm", "live": "true"}, AUTHOR))
    page = builder.figure_file(figure.key, ".html").decode("utf-8")
    data = json.loads(re.search(r'id="attnviz-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert data["live"] == {"manifest": "", "runtime": "", "reason": reason}
    assert not (tmp_path / "cache" / "live").exists()  # nothing exported for a page that cannot use it


def test_each_figure_checks_the_export_on_its_own_sentence(exported, tmp_path):
    """The export is made once per model; a figure of another sentence runs it on that sentence (tokenized by the
    export's tokenizer.json, as the browser does) against its own attention, and fails beyond the bound."""
    from types import SimpleNamespace

    folder, done, loaded = exported
    cache = Cache(tmp_path / "cache")
    key = "cd" * 16
    cache.put_live(key, {name: (folder / name).read_bytes() for name in ("model.onnx", "tokenizer.json")},
                   {"inputs": done.inputs, "output": "attentions", "bound": done.bound})
    sessions: dict = {}
    for text in OTHERS[:2]:
        want, _ = eager(loaded, text)
        worst = live.check(cache, key, SimpleNamespace(weights=want.astype(np.float16)), text, None, sessions)
        assert worst is not None and 1e-4 < worst <= done.bound + live.CACHED_ROUNDING, (text, worst)
    want, _ = eager(loaded, OTHERS[0])
    from mkdocs_attnviz.errors import AttnvizError

    with pytest.raises(AttnvizError, match="differs from the model by") as info:
        live.check(cache, key, SimpleNamespace(weights=np.clip(want + 0.05, 0, 1)), OTHERS[0], None, sessions)
    assert info.value.option == "live"
    assert live.check(cache, key, SimpleNamespace(weights=want[..., :3, :3]), OTHERS[0], None, sessions) is None


def test_cache_only_without_the_export_fails_clearly(site, caplog):
    site.page("index.md", f'```attnviz\n{AUTHOR}\n```\n')
    site.config()
    site.build(strict=True)  # the attention is cached, no export
    site.page("index.md", f'```attnviz live="true"\n{AUTHOR}\n```\n')
    site.config(plugin="cache_only: true")
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert ("docs/index.md:1: option 'live': the model's export for live figures is not in the cache and "
            "cache_only is on") in caplog.text
