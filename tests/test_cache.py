"""The content-addressed cache: keys, round trips, atomic writes and damaged entries."""

import json

import numpy as np
import pytest

from mkdocs_attnviz.attention import Attention
from mkdocs_attnviz.cache import Cache, digest


def _att(n=5, layers=2, heads=3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    toks = [f"t{i}" for i in range(n)]
    return Attention(weights=w, tokens=toks, labels=toks, special=[i == 0 for i in range(n)],
                     segments=[0] * n, model="m", revision="r", causal=False, meta={"x": 1})


def test_digest_is_canonical_and_sensitive():
    a = digest({"model": "m", "text": "x", "pair": None})
    assert a == digest({"pair": None, "text": "x", "model": "m"})
    assert a != digest({"model": "m", "text": "x ", "pair": None})
    assert a != digest({"model": "m", "text": "x", "pair": ""})
    assert len(a) == 32


def test_attention_round_trip_float16(tmp_path):
    cache = Cache(tmp_path)
    att = _att()
    cache.put_attention("k" * 32, att)
    back = cache.get_attention("k" * 32)
    assert back is not None and back.tokens == att.tokens and back.special == att.special
    assert back.weights.dtype == np.float32
    assert np.abs(back.weights - att.weights).max() <= 2 ** -11  # float16 rounding of values in [0, 1]
    files = list((tmp_path / "extract").rglob("*"))
    assert not [f for f in files if f.name.startswith(".tmp-")]


def test_damaged_entries_are_ignored(tmp_path, caplog):
    cache = Cache(tmp_path)
    key = "a" * 32
    cache.put_attention(key, _att())
    path = cache.path("extract", key, ".npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    assert cache.get_attention(key) is None
    path.write_bytes(b"garbage")
    assert cache.get_attention(key) is None
    assert len(cache.problems) == 2
    assert "unreadable" in caplog.text


def test_wrong_key_is_rejected(tmp_path):
    cache = Cache(tmp_path)
    cache.put_attention("a" * 32, _att())
    other = cache.path("extract", "b" * 32, ".npz")
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(cache.path("extract", "a" * 32, ".npz").read_bytes())
    assert cache.get_attention("b" * 32) is None
    assert "not its own" in cache.problems[0]


def test_render_entry_checks_file_hashes(tmp_path):
    cache = Cache(tmp_path)
    key = "c" * 32
    cache.put_render(key, {".html": b"<html>", ".png": b"png"}, dict(META))
    assert cache.get_render(key)["height"] == 300
    cache.path("render", key, ".png").write_bytes(b"pnh")
    assert cache.get_render(key) is None


META = {"height": 300, "description": "d", "alt": "a", "tokens": 3, "warnings": [], "warning_options": []}


def test_render_entry_signed_by_another_machine_is_not_taken(tmp_path, monkeypatch):
    """An entry whose MAC this machine's key does not make (another machine's, or edited with its hashes fixed)."""
    cache = Cache(tmp_path)
    key = "e" * 32
    cache.put_render(key, {".html": b"<html>"}, dict(META))
    assert Cache(tmp_path).get_render(key) is not None
    monkeypatch.setenv("ATTNVIZ_STATE_DIR", str(tmp_path / "elsewhere"))
    other = Cache(tmp_path)
    assert other.get_render(key) is None and other.unverified and not other.problems
    assert (tmp_path / "elsewhere" / "key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("change", [{"alt": None}, {"height": "x"}, {"files": {"/../x.html": "0"}},
                                    {"warnings": [1]}])
def test_render_entry_of_a_wrong_shape_is_named(tmp_path, change):
    cache = Cache(tmp_path)
    key = "f" * 32
    cache.put_render(key, {".html": b"<html>"}, dict(META))
    path = cache.path("render", key, ".json")
    entry = json.loads(path.read_text())
    entry.update(change)
    entry = {k: v for k, v in entry.items() if v is not None}
    path.write_text(json.dumps(entry))
    assert cache.get_render(key) is None
    assert cache.problems and f"cache entry render/ff/{key}.json has no valid" in cache.problems[0]


def test_disabled_cache_keeps_memory(tmp_path):
    cache = Cache(tmp_path, enabled=False)
    cache.put_attention("d" * 32, _att())
    assert cache.get_attention("d" * 32) is not None
    assert not any(tmp_path.iterdir())


def test_unwritable_cache_warns_once(tmp_path, caplog):
    # A folder under a regular file cannot be created, even by root (chmod would not stop root).
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    cache = Cache(blocker / "cache")
    cache.put_attention("e" * 32, _att())
    cache.put_attention("f" * 32, _att())
    assert cache.get_attention("e" * 32) is not None
    assert caplog.text.count("not writable") == 1
