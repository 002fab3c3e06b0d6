"""`mkdocs serve`'s quick previews (mkdocs_attnviz.extract.preview): a float32 ONNX export of the real model, kept on
this machine, runs an edited sentence on onnxruntime while PyTorch is not loaded yet; its record matches PyTorch's
(the same tokens, labels, segments and words; weights within FLOAT_BOUND), it is keyed apart from PyTorch's, and
`mkdocs build` never publishes it."""

from __future__ import annotations

import json
import logging
import shutil
import threading

import numpy as np
import pytest

from mkdocs_attnviz import extract
from mkdocs_attnviz.extract import load as loading
from mkdocs_attnviz.extract import onnx_export, preview
from mkdocs_attnviz.extract.preview import MANIFEST, Previews, preview_key
from mkdocs_attnviz.modelrefs import ModelRefs

pytest.importorskip("onnxruntime")

PAGE = """# Page

```attnviz
The cat sat on the mat because it was tired.
```

```attnviz view="neuron"
The cat sat on the mat because it was tired.
```
"""


#: what a previewed figure says of itself (its title, alt text and PNG)
NOTE = "quick preview by onnxruntime (a build without previews runs PyTorch)"


@pytest.fixture(scope="module")
def made(tmp_path_factory, minilm_path):
    """MiniLM's preview, exported once into a folder of its own (never the suite's machine folder: a serve there
    would change its order)."""
    store = tmp_path_factory.mktemp("previews")
    ref = extract.resolve_model("m", None, models={"m": minilm_path})
    manifest = preview.export(loading.load_model(ref, "cpu", False), ref, store)
    return store, ref, manifest


def test_the_export_is_whole_float32_and_within_half_a_step_of_pytorch(made):
    store, ref, manifest = made
    folder = store / preview_key(ref)
    assert sorted(p.name for p in store.iterdir()) == [preview_key(ref)]  # no temporary folder left behind
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx", "preview.json", "tokenizer.json"]
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert manifest["fingerprint"] == ref.fingerprint and manifest["layers"] == 6 and manifest["heads"] == 12
    assert manifest["bound"] == onnx_export.FLOAT_BOUND and manifest["measured"] <= onnx_export.FLOAT_BOUND
    # float32 weights, "about 84 MB" (docs/reference.md; the 8-bit live file is ~26 MB)
    assert 80_000_000 < (folder / "model.onnx").stat().st_size < 88_000_000


@pytest.mark.parametrize("text, pair", [("The cat sat on the mat because it was sleepy.", None),
                                        ("Ça coûte 5 €, Señor Müller ☃ 日本語の文です。", None),
                                        ("Where is the bank?", "The river bank was muddy.")])
def test_a_previewed_record_is_pytorchs_record(made, text, pair):
    store, ref, _ = made
    got = Previews(store).attention(ref, text, pair)
    want = extract.extract(ref, text, pair, device="cpu")
    assert (got.tokens, got.labels, got.special, got.segments) == (want.tokens, want.labels, want.special,
                                                                    want.segments)
    assert got.meta["word_ids"] == want.meta["word_ids"] and got.causal == want.causal
    assert got.weights.shape == want.weights.shape
    assert float(np.abs(got.weights - want.weights).max()) <= onnx_export.FLOAT_BOUND
    assert got.meta["engine"] == "onnxruntime" and "engine" not in want.meta


def test_only_plain_sentences_within_the_length_are_previewed(made, monkeypatch):
    store, ref, _ = made
    previews = Previews(store)
    plain = {"text": "The cat sat.", "model": "m", "revision": None, "pair": None, "max_tokens": None}
    assert previews.accepts(ref, plain)
    assert previews.accepts(ref, {**plain, "pair": "A dog ran."})
    assert not previews.accepts(ref, {**plain, "qk": True})  # the neuron view's vectors come from PyTorch
    assert not previews.accepts(ref, {**plain, "generate": 5})
    assert not previews.accepts(ref, {**plain, "max_tokens": 4})  # would be truncated
    assert previews.accepts(ref, {**plain, "max_tokens": 6})  # [CLS] the cat sat . [SEP]
    monkeypatch.setattr("mkdocs_attnviz.attention.LONG_TOKENS", 6)
    assert not Previews(store).accepts(ref, plain)  # streamed one layer at a time: PyTorch's path
    previews.active = False
    assert not previews.accepts(ref, {**plain, "text": "Another one."})


def test_a_new_export_replaces_the_models_older_previews_and_stale_leftovers(made, tmp_path):
    import os
    import time

    store, ref, manifest = made
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    for name, written in (("old-versions", {**manifest, "model": "other name"}),  # same weights, other key
                          ("old-weights", {**manifest, "fingerprint": "f" * 32}),  # same name, other weights
                          ("another-model", {**manifest, "model": "x", "fingerprint": "e" * 32})):
        (copy / name).mkdir()
        (copy / name / MANIFEST).write_text(json.dumps(written), encoding="utf-8")
    for name, age in ((".stale-export", 2 * preview.STALE_SECONDS), (".running-export", 0)):
        (copy / name).mkdir()
        os.utime(copy / name, (time.time() - age, time.time() - age))
    preview.forget_older(copy, preview_key(ref), manifest)
    assert sorted(p.name for p in copy.iterdir()) == sorted([preview_key(ref), "another-model", ".running-export"])


def test_a_tokenizer_that_gives_other_ids_than_transformers_is_refused(made):
    from mkdocs_attnviz.errors import AttnvizError

    store, ref, _ = made
    saved = store / preview_key(ref) / "tokenizer.json"
    preview.check_tokenizer(loading.load_model(ref, "cpu", False).tokenizer, saved, "m")  # its own: the same ids

    def shifted(text, pair=None):  # a tokenizer whose ids differ from the saved one's
        return {"input_ids": [i + 1 for i in loading.load_model(ref, "cpu", False).tokenizer(text, pair)["input_ids"]]}

    with pytest.raises(AttnvizError, match="saved for previews gives other tokens than transformers"):
        preview.check_tokenizer(shifted, saved, "m")


def test_a_missing_damaged_or_other_models_preview_is_none(made, tmp_path, minilm_path):
    store, ref, _ = made
    other = extract.resolve_model("m", None, models={"m": minilm_path})
    assert Previews(tmp_path).get(ref) is None and not Previews(tmp_path).any()
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    (copy / preview_key(ref) / MANIFEST).write_text("{not json", encoding="utf-8")
    assert Previews(copy).get(ref) is None
    manifest = json.loads((store / preview_key(ref) / MANIFEST).read_text())
    (copy / preview_key(ref) / MANIFEST).write_text(json.dumps({**manifest, "fingerprint": "f" * 32}))
    assert Previews(copy).get(other) is None
    (copy / preview_key(ref) / MANIFEST).write_text(json.dumps(manifest))
    (copy / preview_key(ref) / "model.onnx").write_bytes(b"garbage")
    assert Previews(copy).load([ref]) == []  # a model file onnxruntime cannot read: no preview, PyTorch runs it


def test_serve_runs_an_edit_on_the_preview_keyed_apart_and_build_runs_pytorch(site, made, tmp_path, caplog,
                                                                                monkeypatch):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    store, ref, _ = made
    from mkdocs_attnviz import machine

    shutil.copytree(store, machine.previews_dir())  # this machine has MiniLM's preview (a test's own folder)
    site.page("index.md", PAGE)
    site.config()
    site.build()  # fill the cache, as an earlier `mkdocs build` would have
    release = threading.Event()
    monkeypatch.setattr(ModelRefs, "preload", lambda self, refs: release.wait(timeout=300))
    cfg = load_config(str(site.root / "mkdocs.yml"))
    cfg.plugins.on_startup(command="serve", dirty=False)
    plugin = cfg.plugins["attnviz"]
    try:
        assert not plugin.warmup.early  # this machine has previews: torch waits for the first build's models
        build(cfg, serve_url="http://127.0.0.1:8000/")
        assert plugin.previews.load([ref])  # what the warm-up does first
        before = dict(extract.STATS)
        (site.docs / "index.md").write_text(PAGE.replace("tired", "sleepy"), encoding="utf-8")
        with caplog.at_level(logging.INFO):
            build(cfg, serve_url="http://127.0.0.1:8000/")
        stats = plugin.builder.stats
        # the heatmap's new sentence: on the preview; the neuron view's (query and key vectors): PyTorch
        assert stats["previews"] == 1 and stats["extractions"] == 2, stats
        assert extract.STATS["forwards"] == before["forwards"] + 1
        summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attnviz: 2 figures")]
        assert summary and "1 sentence run by this machine's quick preview (onnxruntime)" in summary[0]
        previewed = plugin.builder.previewing.keys
        assert len(previewed) == 1
        cached = plugin.builder.cache.get_attention(previewed[0])
        assert cached.meta["engine"] == "onnxruntime"
        served = (site.site / "index.html").read_text(encoding="utf-8")
        assert NOTE in served  # the previewed figure says so (its alt text, its description)
    finally:
        release.set()
        plugin.on_shutdown()

    before = dict(extract.STATS)
    with caplog.at_level(logging.INFO):
        site.build()  # `mkdocs build` never takes a preview: the edited sentence runs on PyTorch
    assert extract.STATS["forwards"] == before["forwards"] + 1
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attnviz: 2 figures")]
    assert "(1 from cache, 1 rendered, 1 model run, 0 errors)" in summary[-1] and "preview" not in summary[-1]
    assert NOTE not in (site.site / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["gpt2", "llama", "qwen2"])
def test_a_causal_models_preview_is_pytorchs_record(kind, tmp_path, tiny_gpt2):
    """Byte-level BPE (a character split over tokens: "·" labels), a start token, the future masked."""
    from models import make_tiny_llm

    folder = tiny_gpt2 if kind == "gpt2" else make_tiny_llm(kind, tmp_path / kind)
    ref = extract.resolve_model("m", None, models={"m": str(folder)})
    preview.export(loading.load_model(ref, "cpu", False), ref, tmp_path / "previews")
    text = "The cat sat on the mat, 猫 🐈 naïve."
    got = Previews(tmp_path / "previews").attention(ref, text)
    want = extract.extract(ref, text, device="cpu")
    assert (got.tokens, got.labels, got.special, got.segments) == (want.tokens, want.labels, want.special,
                                                                    want.segments)
    assert got.meta["word_ids"] == want.meta["word_ids"] and got.causal is want.causal is True
    assert float(np.abs(got.weights - want.weights).max()) <= onnx_export.FLOAT_BOUND


def test_a_preview_that_fails_hands_the_sentence_to_pytorch(made, tmp_path, caplog, minilm_path):
    """A model file onnxruntime cannot run (met only once a sentence needs it): the figure is still built, by
    PyTorch, the log says why, and the preview is not used again by this process."""
    from mkdocs_attnviz.pipeline import FigureBuilder
    from mkdocs_attnviz.settings import build_settings
    from mkdocs_attnviz.spec import build_spec

    store, ref, _ = made
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    (copy / preview_key(ref) / "model.onnx").write_bytes(b"garbage")
    settings = build_settings({"models": {"m": minilm_path}, "cache_dir": str(tmp_path / "cache")}, tmp_path)
    builder = FigureBuilder(settings)
    builder.previewing.previews = Previews(copy)
    builder.reset_stats()
    before = dict(extract.STATS)
    with caplog.at_level(logging.INFO):
        figure = builder.build(build_spec({"model": "m"}, "A sentence the preview cannot run."))
    assert figure.key and builder.stats["previews"] == 0 and builder.stats["extractions"] == 1
    assert extract.STATS["forwards"] == before["forwards"] + 1
    assert any("the quick preview of m failed" in r.getMessage() for r in caplog.records)
    assert builder.previewing.previews.get(ref) is None
    builder.close()


def test_a_machine_can_keep_no_previews(site, monkeypatch):
    """ATTNVIZ_PREVIEWS=off: the server neither uses nor exports a preview (it imports PyTorch at once, as before)."""
    from mkdocs.config import load_config

    site.page("index.md", PAGE)
    site.config()
    for value, kept in (("off", False), ("on", True)):
        monkeypatch.setenv("ATTNVIZ_PREVIEWS", value)
        cfg = load_config(str(site.root / "mkdocs.yml"))
        cfg.plugins.on_startup(command="serve", dirty=False)
        plugin = cfg.plugins["attnviz"]
        try:
            assert (plugin.previews is not None) is kept and plugin.warmup.previews is plugin.previews
            assert plugin.warmup.early is not kept or not plugin.previews.any()
        finally:
            plugin.on_shutdown()
