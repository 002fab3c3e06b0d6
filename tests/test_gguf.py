"""GGUF files as models: recognised by extension or by their magic bytes (Ollama's extension-less blobs), the
fingerprint covers the file, a non-GGUF file and an architecture transformers cannot dequantise are refused
clearly. (SmolLM2 itself, through every host, is in test_smollm2.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mkdocs_attnviz import extract as ex
from mkdocs_attnviz.errors import AttnvizError


def fake_gguf(path: Path, arch: str = "rwkv7", fill: float = 0.0) -> str:
    """A small valid GGUF file declaring ``arch`` (one tensor), written with the gguf package."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.full((4, 8), fill, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def test_gguf_by_extension_and_by_magic_bytes(tmp_path):
    named = fake_gguf(tmp_path / "model.gguf")
    blob = tmp_path / "blobs" / ("sha256-" + "ab" * 32)
    blob.parent.mkdir()
    shutil.copyfile(named, blob)
    a = ex.resolve_model("m", None, models={"m": named})
    b = ex.resolve_model("m", None, models={"m": str(blob)})
    assert a.gguf and b.gguf and a.local and b.source == str(blob)
    assert a.fingerprint == b.fingerprint  # the content, not the name
    # a path written in a page (inside the project) works too, by its extension
    c = ex.resolve_model("model.gguf", None, base_dir=str(tmp_path), allowed_root=str(tmp_path))
    assert c.gguf and c.fingerprint == a.fingerprint


def test_fingerprint_covers_the_whole_file(tmp_path):
    first = ex.resolve_model("m", None, models={"m": fake_gguf(tmp_path / "a.gguf", fill=0.0)}).fingerprint
    # same header and size, one weight different
    second = ex.resolve_model("m", None, models={"m": fake_gguf(tmp_path / "b.gguf", fill=1.0)}).fingerprint
    assert (tmp_path / "a.gguf").stat().st_size == (tmp_path / "b.gguf").stat().st_size
    assert first != second and first.startswith("sha256:")


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    other = tmp_path / "weights.bin"
    other.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(AttnvizError) as info:
        ex.resolve_model("m", None, models={"m": str(other)})
    assert info.value.option == "model" and "not a GGUF file" in str(info.value)
    with pytest.raises(AttnvizError, match="revision"):
        ex.resolve_model("m", "main", models={"m": fake_gguf(tmp_path / "x.gguf")})


def test_an_architecture_transformers_cannot_read_is_named(tmp_path):
    ref = ex.resolve_model("rwkv", None, models={"rwkv": fake_gguf(tmp_path / ("sha256-" + "cd" * 32))})
    with pytest.raises(AttnvizError) as info:
        ex.extract(ref, "The cat sat.")
    message = str(info.value)
    assert info.value.option == "model"
    assert "holds a 'rwkv7' model" in message and "cannot dequantise" in message and "llama" in message


def test_an_unreadable_architecture_names_the_block_in_mkdocs(site, tmp_path, caplog):
    blob = fake_gguf(tmp_path / ("sha256-" + "ef" * 32))
    site.page("index.md", "# Title\n\n```attnviz model=\"rwkv\"\nThe cat sat.\n```\n")
    site.config(plugin=f"models:\n  rwkv: {blob}")
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert "docs/index.md:3: option 'model': model 'rwkv': the GGUF file" in caplog.text
    assert "'rwkv7'" in caplog.text
