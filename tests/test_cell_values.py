"""Texts stamped from strings rendered once (``toolkit.mpl.stamp``: the numbers in a heatmap's cells, its token
labels) land where ``ax.text(...)`` with the same alignment and rotation puts them and look the same; an SVG draws
them as texts (paths), byte for byte what ``ax.text`` gives; a string that needs shaping or another font (Arabic,
CJK in a Latin family, combining marks), and any string when the family lacks digits, is a plain text."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mkdocs_attnviz.toolkit import mpl

N = 7


def _figure(with_artist: bool, values: np.ndarray, fmt: str = "png", font: str | None = None) -> bytes:
    from matplotlib.figure import Figure

    with mpl.rc(font):
        out = Figure(figsize=(4, 4), dpi=100)
        ax = out.add_axes((0.05, 0.05, 0.9, 0.9))
        ax.imshow(np.zeros((N, N)), cmap="gray", vmin=0, vmax=1)  # black cells: the numbers are the only ink
        ax.set_axis_off()
        cells = [(k, q, f"{values[q, k]:.2f}", "white") for q in range(N) for k in range(N)]
        if with_artist:
            mpl.cell_values(ax, cells, 8)
        else:
            for x, y, text, colour in cells:
                ax.text(x, y, text, ha="center", va="center", fontsize=8, color=colour)
        return mpl.save_figure(out, fmt, dpi=100, facecolor="white")


def _ink(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(float)


@pytest.fixture(scope="module")
def values():
    return np.random.default_rng(3).random((N, N))


def test_cell_numbers_sit_where_texts_would_and_carry_the_same_ink(values):
    new, old = _ink(_figure(True, values)), _ink(_figure(False, values))
    assert new.shape == old.shape
    # cell q, k spans 0.9 * 400 / N pixels from the axes' corner (y from the top)
    size, x0, y0 = 0.9 * 400 / N, 0.05 * 400, 0.05 * 400
    for q in range(N):
        for k in range(N):
            box = (slice(int(y0 + q * size) + 2, int(y0 + (q + 1) * size) - 2),
                   slice(int(x0 + k * size) + 2, int(x0 + (k + 1) * size) - 2))
            a, b = new[box], old[box]
            assert b.sum() > 1000, "the reference draws a number in every cell"
            assert abs(a.sum() - b.sum()) < 0.12 * b.sum(), (q, k)
            ys, xs = np.mgrid[box]
            for grid in (ys, xs):  # centre of the ink, rows then columns
                assert abs((grid * a).sum() / a.sum() - (grid * b).sum() / b.sum()) < 0.75, (q, k)


def test_a_number_changed_moves_the_picture(values):
    other = values.copy()
    other[3, 4] = (other[3, 4] + 0.5) % 1.0
    assert _figure(True, values) != _figure(True, other)


def test_svg_cell_numbers_are_the_texts_matplotlib_draws(values):
    assert _figure(True, values, "svg") == _figure(False, values, "svg")


def test_a_font_without_digits_gets_plain_texts(values, monkeypatch):
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    monkeypatch.setattr(mpl.fonts, "coverage", lambda families: frozenset())
    with mpl.rc(None):
        out = Figure(figsize=(2, 2), dpi=100)
        ax = out.add_axes((0, 0, 1, 1))
        mpl.cell_values(ax, [(0, 0, "0.50", "white"), (1, 0, "0.25", "black")], 8)
    assert [t.get_text() for t in ax.texts] == ["0.50", "0.25"]
    assert all(isinstance(t, Text) for t in ax.texts)


LABELS = ["[CLS]", "The", "lighthouse", "stood", "at", "the", "end", "of", "a", "narrow", "spit", "."]


def _label(with_artist: bool, text: str, shift: float, ha: str, va: str, rotation: float) -> np.ndarray:
    """One label alone, its anchor at a fractional pixel (``shift``) in the middle of a white figure: its ink."""
    from matplotlib.figure import Figure

    with mpl.rc(None):
        out = Figure(figsize=(3, 3), dpi=100)
        x, y = (150 + shift) / 300, (150 + 0.77 * shift) / 300
        if with_artist:
            mpl.stamp(out, out.transFigure, [(x, y, text, "black")], 8, ha=ha, va=va, rotation=rotation)
            assert not out.texts, "this label is stamped"
        else:
            out.text(x, y, text, ha=ha, va=va, rotation=rotation, rotation_mode="anchor", fontsize=8, color="black")
        return 255 - _ink(mpl.save_figure(out, "png", dpi=100, facecolor="white"))


@pytest.mark.parametrize("ha, va, rotation", [("right", "top", 45.0), ("right", "center", 0.0),
                                              ("left", "baseline", 0.0), ("center", "bottom", 90.0)])
def test_labels_sit_where_texts_would(ha, va, rotation):
    """Within 1.5 pixels: a text artist places each glyph at a fraction of a pixel with HarfBuzz's advances; a stamp
    is whole pixels, with FreeType's hinted advances (a word can come out a pixel narrower)."""
    for i, text in enumerate(LABELS):
        shift = (0.37 * i) % 1
        a, b = _label(True, text, shift, ha, va, rotation), _label(False, text, shift, ha, va, rotation)
        assert b.sum() > 200 and abs(a.sum() - b.sum()) < 0.1 * b.sum(), (text, ha, va, rotation)
        ys, xs = np.mgrid[0:a.shape[0], 0:a.shape[1]]
        for grid in (ys, xs):
            assert abs((grid * a).sum() / a.sum() - (grid * b).sum() / b.sum()) < 1.5, (text, ha, va, rotation)


@pytest.mark.parametrize("text, stamped", [("lighthouse", True), ("café", True), ("0.25", True),
                                           ("القطة", False), ("猫", False), ("e\u0301", False)])
def test_strings_that_need_shaping_or_another_font_are_texts(text, stamped):
    from matplotlib.figure import Figure

    with mpl.rc(None):
        out = Figure(figsize=(2, 2), dpi=100)
        mpl.stamp(out, out.transFigure, [(0.5, 0.5, text, "black")], 8)
    assert (not out.texts) is stamped
    assert bool(out.artists) is stamped
