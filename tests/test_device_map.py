"""``device: map`` (accelerate's ``device_map="auto"``) on a model that does not fit: with a memory cap of 20 kB the
whole tiny model is offloaded to disk (its weights on the meta device until each layer runs), and the attention is
the same as on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from mkdocs_attnviz import extract as ex
from mkdocs_attnviz.extract import load

pytest.importorskip("accelerate")
SENTENCE = "The cat sat on the mat because it was tired."


def test_device_map_offloads_and_gives_the_same_attention(tmp_path, monkeypatch):
    from models import make_tiny_llm

    ref = ex.resolve_model("t", None, models={"t": make_tiny_llm("llama", tmp_path / "llama")})
    on_cpu = ex.extract(ref, SENTENCE, device="cpu", qk=True)
    plain = load.eager_float32_kwargs

    def capped(config, device):
        kw = plain(config, device)
        assert kw["device_map"] == "auto" and kw["offload_folder"]
        return {**kw, "max_memory": {"cpu": 20_000}}  # less than one layer: everything goes to disk

    monkeypatch.setattr(load, "eager_float32_kwargs", capped)
    ex.clear_models()
    try:
        mapped = ex.extract(ref, SENTENCE, device="map", qk=True)
        placed = load.load_model(ref, "map", False).model  # the one kept: no second load
        assert set(placed.hf_device_map.values()) == {"disk"}
    finally:
        ex.clear_models()
    assert mapped.tokens == on_cpu.tokens
    np.testing.assert_allclose(np.asarray(mapped.weights), np.asarray(on_cpu.weights), atol=1e-6)
    np.testing.assert_allclose(mapped.arrays["query"], on_cpu.arrays["query"], atol=1e-5)
