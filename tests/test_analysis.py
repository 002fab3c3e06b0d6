"""analysis.py and the one way special tokens are hidden (prepare.hide_part): head_matrix, quantize/dequantize,
hide_tokens (synthetic data only)."""

from __future__ import annotations

import numpy as np
import pytest

from mkdocs_attnviz.analysis import dequantize, head_matrix, hide_tokens, quantize
from mkdocs_attnviz.attention import Attention
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.prepare import hide_part, parts_of


def make_att(n=6, layers=2, heads=3, seed=0, special=None):
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)) ** 3
    w /= w.sum(-1, keepdims=True)
    labels = [f"t{i}" for i in range(n)]
    special = special if special is not None else [i in (0, n - 1) for i in range(n)]
    return Attention(weights=w.astype(np.float32), tokens=list(labels), labels=labels, special=special,
                     segments=[0] * n, model="m", revision="r")


def hide_special(att):
    return hide_part(parts_of(att)["self"])


def test_hide_special_drops_and_renormalises():
    att = make_att()
    out = hide_special(att)
    assert out.weights.shape[-2:] == (4, 4)
    assert out.q.labels == ["t1", "t2", "t3", "t4"] and out.q.tokens == out.q.labels and out.k == out.q
    assert out.q.special == [False] * 4 and out.q.segments == [0] * 4
    assert out.weights.dtype == np.float32
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
    # proportional to the original weights of the kept cells
    kept = att.weights[:, :, 1:5, 1:5]
    np.testing.assert_allclose(out.weights, kept / kept.sum(-1, keepdims=True), rtol=1e-5)
    assert att.num_tokens == 6  # the input is not modified


def test_hide_tokens_keeps_rows_and_columns_apart():
    """A rectangular (cross) set: the query rows and key columns have their own special tokens."""
    rng = np.random.default_rng(3)
    w = rng.random((1, 2, 3, 5))
    w /= w.sum(-1, keepdims=True)
    out = hide_tokens(w, [False, True, True], [True, False, True, True, False], renormalise=False)
    np.testing.assert_array_equal(out, w[:, :, [1, 2]][:, :, :, [0, 2, 3]])
    again = hide_tokens(w, [False, True, True], [True, False, True, True, False], renormalise=True)
    np.testing.assert_allclose(again.sum(-1), 1.0)


def test_hide_special_zero_row_stays_zero():
    att = make_att(n=4, special=[True, False, False, False])
    w = att.weights.copy()
    w[:, :, 2, :] = 0.0
    w[:, :, 2, 0] = 1.0  # row 2 attends only to the special token
    att.weights = w
    out = hide_special(att)
    assert np.isfinite(out.weights).all()
    np.testing.assert_array_equal(out.weights[:, :, 1, :], 0.0)  # row 2 became row 1, all zero
    np.testing.assert_allclose(out.weights[:, :, [0, 2], :].sum(-1), 1.0, atol=1e-5)


def test_hide_special_no_special_is_identity_and_all_special_fails():
    att = make_att(special=[False] * 6)
    part = parts_of(att)["self"]
    assert hide_part(part) is part
    with pytest.raises(AttnvizError):
        hide_special(make_att(special=[True] * 6))


def test_head_matrix():
    att = make_att()
    layer = att.weights[1]
    np.testing.assert_array_equal(head_matrix(layer, 2), layer[2])
    np.testing.assert_allclose(head_matrix(layer, "mean"), layer.mean(0), rtol=1e-6)
    np.testing.assert_array_equal(head_matrix(layer, "max"), layer.max(0))
    np.testing.assert_allclose(head_matrix(layer, "mean").sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        head_matrix(layer, "all")
    with pytest.raises(ValueError):
        head_matrix(layer[0], 0)


def test_quantize_roundtrip_error():
    rng = np.random.default_rng(1)
    w = rng.random((3, 4, 50, 50)).astype(np.float32)
    q = quantize(w)
    assert q.dtype == np.uint8 and q.shape == w.shape
    err = np.abs(dequantize(q) - w).max()
    assert err <= 1 / 510 + 1e-7
    assert dequantize(q).dtype == np.float32


def test_quantize_edges():
    q = quantize(np.array([0.0, 1.0, -0.1, 1.5, np.nan, 0.5 / 255, 1.49 / 255]))
    assert q.tolist() == [0, 255, 0, 255, 0, 0, 1]
