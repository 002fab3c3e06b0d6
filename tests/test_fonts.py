"""Fonts in the PNGs: found even when matplotlib's font cache predates them, right-to-left labels in visual order
and Arabic shaped, and a clear, located warning (that fails --strict) for characters no installed font has."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import draw
from mkdocs_attnviz.attention import Attention
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.toolkit import fonts

ROOT = Path(__file__).resolve().parent.parent
NO_GLYPH = "\U0010fffd"  # a private-use code point of plane 16: no installed font draws it

RENDER = textwrap.dedent("""
    import hashlib, sys, warnings
    import numpy as np
    from matplotlib import font_manager
    from mkdocs_attnviz import draw
    from mkdocs_attnviz.attention import Attention
    from mkdocs_attnviz.spec import build_spec
    print("CJK-KNOWN-BEFORE=" + str(any("CJK" in f.name for f in font_manager.fontManager.ttflist)))
    labels = ["今日", "は", "カレー", "を", "食べ", "ました"]
    n = len(labels)
    w = np.random.default_rng(0).random((1, 2, n, n)).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    att = Attention(weights=w, tokens=labels, labels=labels, special=[False] * n, segments=[0] * n, model="m",
                    revision="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        png = draw.figure_png(att, build_spec({"model": "m", "lang": sys.argv[1]}, "今日はカレーを食べました"))
    print("SHA=" + hashlib.sha256(png).hexdigest())
""")


def _render(config_dir: Path, lang: str) -> dict[str, str]:
    env = {**os.environ, "MPLCONFIGDIR": str(config_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", RENDER, lang], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_cjk_png_is_the_same_with_a_font_cache_written_before_the_cjk_fonts(tmp_path, lang):
    if not any("CJK" in name for name in fonts.families(None, "ja")):
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    reference = _render(fresh, lang)
    assert reference["CJK-KNOWN-BEFORE"] == "True"
    # the same cache file, as matplotlib wrote it before fonts-noto-cjk was installed: no CJK font in it
    stale = tmp_path / "stale"
    stale.mkdir()
    for cache in fresh.glob("fontlist-*.json"):
        data = json.loads(cache.read_text(encoding="utf-8"))
        data["ttflist"] = [f for f in data["ttflist"] if "CJK" not in f["name"] and "CJK" not in f["fname"]]
        (stale / cache.name).write_text(json.dumps(data), encoding="utf-8")
    assert list(stale.glob("fontlist-*.json")), "matplotlib wrote no font cache"
    again = _render(stale, lang)
    assert again["CJK-KNOWN-BEFORE"] == "False"  # the stale cache really lacks them...
    assert again["SHA"] == reference["SHA"]  # ...and the PNG is the same, with no missing glyph


def _labels_png(labels: list[str], view: str = "heatmap") -> bytes:
    n = len(labels)
    w = np.eye(n, dtype=np.float32)[None, None] * 0.5 + 0.5 / n
    att = Attention(weights=w, tokens=list(labels), labels=list(labels), special=[False] * n, segments=[0] * n,
                    model="m", revision="r")
    return draw.figure_png(att, build_spec({"model": "m", "view": view}, " ".join(labels)))


LRO, PDF = "\u202d", "\u202c"  # left-to-right override ... pop: the glyphs in the order written


@pytest.mark.parametrize("view", ["heatmap", "bars"])
def test_right_to_left_labels_read_in_visual_order_and_arabic_is_shaped(view):
    # Hebrew: the first letter of a word is drawn rightmost, as the browser draws it
    shalom = "שלום"
    assert _labels_png([shalom, "x"], view) == _labels_png([LRO + shalom[::-1] + PDF, "x"], view)
    assert _labels_png([shalom, "x"], view) != _labels_png([LRO + shalom + PDF, "x"], view)
    # Arabic: two behs join (initial + final forms, right to left), unlike the same letters kept apart
    beh_beh = "\u0628\u0628"
    joined = _labels_png([beh_beh, "x"], view)
    assert joined == _labels_png(["\ufe91\ufe90", "x"], view)  # BEH INITIAL FORM, BEH FINAL FORM
    assert joined != _labels_png(["\u0628\u200c\u0628", "x"], view)  # a zero-width non-joiner keeps them isolated


def _lacking(base: list[str]) -> dict[str, str]:
    """For each installed family (by name), the first character above U+2000 that ``base`` lacks and that is drawn
    (printable, not a selector), whatever fonts happen to be installed."""
    from matplotlib import font_manager

    covered = fonts.coverage(base)
    found: dict[str, str] = {}
    for name in sorted({e.name for e in font_manager.fontManager.ttflist if not e.name.startswith("Last Resort")}):
        char = next((chr(code) for code in sorted(fonts.coverage([name]))
                     if code not in covered and code > 0x2000 and chr(code).isprintable()
                     and fonts.drawable(chr(code)) and chr(code) in fonts._visible(chr(code))), None)
        if char is not None:
            found[name] = char
    return found


def _drawn(label: str) -> tuple[list[str], set[str]]:
    """The families a PNG label ends up with, and the characters reported as having no glyph."""
    from matplotlib.figure import Figure

    from mkdocs_attnviz.toolkit import mpl

    with mpl.rc(None, "en"), mpl.missing_glyphs() as missing:
        fig = Figure(figsize=(2, 1), dpi=100)
        text = fig.text(0.5, 0.5, label)
        mpl.save_figure(fig)
    return list(text.get_fontfamily()), missing


def test_characters_the_families_lack_take_an_installed_font_that_has_them():
    """A label in a script the figure's families lack (not DejaVu, not CJK) is drawn with an installed font that
    has it, found character by character; a character no font has is reported, not drawn as a silent box. Every
    installed family's first such character is tried, so the test holds on any set of installed fonts."""
    lacking = _lacking(fonts.families(None, "en"))
    if not lacking:
        pytest.skip("every installed font's characters are already in the base families")
    for family, char in lacking.items():
        families, missing = _drawn(f"a{char}{NO_GLYPH}")
        assert ord(char) in fonts.coverage(families), (family, f"U+{ord(char):04X}")  # a family that has it
        assert missing == {NO_GLYPH}


def test_a_combining_mark_is_drawn_by_the_font_of_its_base_else_by_one_that_has_it():
    """A combining mark sits on the character before it: the text's own font draws it when it has the mark
    (no family is added); a mark the families lack takes an installed font that has it, like any character; a
    variation selector is never drawn and never reported."""
    base = fonts.families(None, "en")
    assert ord("\u0301") in fonts.coverage(base)
    assert _drawn("e\u0301") == (base, set())  # é as e + COMBINING ACUTE ACCENT: DejaVu Sans draws both
    assert _drawn("\u2764\ufe0f") [1] == set()  # HEAVY BLACK HEART + VARIATION SELECTOR-16
    marks = {f: c for f, c in _lacking(base).items() if unicodedata.category(c) in ("Mn", "Me")}
    for family, mark in marks.items():
        families, missing = _drawn(f"a{mark}")
        assert ord(mark) in fonts.coverage(families) and missing == set(), (family, f"U+{ord(mark):04X}")
    assert _drawn("a\U0010fffd\u0301")[1] == {NO_GLYPH}
    if not marks:
        pytest.skip("no installed font has a combining mark the base families lack (fonts-dejavu-extra has some)")


def test_a_character_no_font_has_warns_with_page_and_line_and_fails_strict(site, caplog):
    np.save(site.docs / "att.npy", np.full((3, 3), 1 / 3))
    site.page("index.md", f"""\
        # Glyphs

        Text.

        ```attnviz data="att.npy" tokens="The {NO_GLYPH} cat"
        ```
        """)
    site.config()
    with caplog.at_level(logging.WARNING, logger="mkdocs_attnviz"):
        site.build()
    messages = [r.getMessage() for r in caplog.records if "no glyph" in r.getMessage()]
    assert len(messages) == 1, messages
    assert messages[0].startswith("attnviz: docs/index.md:5: option 'font': 1 character(s) have no glyph"), messages
    assert "U+10FFFD" in messages[0] and "fonts-noto" in messages[0]
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):  # strict: the warning fails the build (warm: the warning comes from the cache)
        site.build(strict=True)


def test_the_texts_a_figure_draws_are_found_without_making_ticks_for_hidden_axes():
    """`fonts.complete` gives fonts to every text the PNG draws: those of an axis that is drawn (its tick labels)
    and every free text; an axis switched off is not asked for ticks (it would make them only to be asked)."""
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    fig = Figure()
    shown, hidden = fig.add_subplot(121), fig.add_subplot(122)
    shown.set_xticks([0, 1], ["x0", "x1"])
    hidden.axis("off")
    hidden.text(0.5, 0.5, "label")
    asked = []
    for axis in (hidden.xaxis, hidden.yaxis):
        axis.get_children = lambda axis=axis: asked.append(axis) or []  # would make the ticks
    found = fonts._texts(fig)
    assert asked == []
    del hidden.xaxis.get_children, hidden.yaxis.get_children
    words = {t.get_text() for t in found}
    assert {"x0", "x1", "label"} <= words
    drawn = {t for t in fig.findobj(Text) if t.get_text() and t.get_visible()
             and not any(t in ax.xaxis.get_children() + ax.yaxis.get_children() for ax in (hidden,))}
    assert drawn <= set(found)
