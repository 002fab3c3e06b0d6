"""Fonts for the pictures: what the machine has, which families a figure uses, and what no font can draw.

* :func:`discover` asks fontconfig (``fc-list``), else the usual font folders, for the font files on the machine and
  adds those matplotlib's font list lacks: matplotlib caches its list the first time it runs
  (``fontlist-*.json``), so fonts installed later (``fonts-noto-cjk`` after a first plot) would otherwise never be
  used. Bitmap-only fonts are skipped (matplotlib draws outlines only).
* :func:`families` is the family list of a figure: the ``font`` setting or option, DejaVu Sans, and the CJK family
  of the figure's language (Japanese, Simplified Chinese or Korean forms of the Han characters). matplotlib falls
  back along the list glyph by glyph.
* :func:`complete` runs on every finished figure: a text with characters none of its families has gets the
  installed fonts that have them (Hebrew, Arabic, Devanagari, Thai...); the characters no installed font has are
  returned, so the figure can say so instead of drawing boxes silently.

Right-to-left text (Hebrew, Arabic) is laid out by matplotlib itself (libraqm: bidi order and Arabic shaping), as
the browser does on the page.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

__all__ = ["discover", "families", "complete", "coverage", "drawable", "CJK_FAMILIES", "INSTALL_HINT"]

#: CJK families looked for, in order (the figure's language puts its own first)
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
                "Noto Sans CJK HK", "Source Han Sans JP", "Source Han Sans SC", "IPAexGothic", "IPAGothic",
                "TakaoGothic", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback")
_CJK_FIRST = {"ja": ("Noto Sans CJK JP", "Source Han Sans JP", "IPAexGothic"),
              "zh": ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei"),
              "ko": ("Noto Sans CJK KR", "Source Han Sans KR", "Noto Sans KR")}
#: what to install when characters have no glyph (Debian package names)
INSTALL_HINT = ("install a font that has them (Debian: fonts-noto-core for most scripts, fonts-noto-cjk for Chinese, "
                "Japanese and Korean, fonts-symbola for emoji) or name one with the `font` option or setting")
_SCALABLE = (".ttf", ".otf", ".ttc", ".otc")
_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts", "/Library/Fonts",
            "/System/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts")
# fonts whose "glyphs" are placeholder boxes (matplotlib ships Last Resort as its final fallback)
_PLACEHOLDER_FONTS = ("Last Resort",)
# never drawn: spaces, joiners, controls and format characters; of the combining marks (Mn) only the selectors
# and the grapheme joiner, which choose or join glyphs and have none of their own. Any other combining mark is
# drawn over the character before it: by that character's font when it has the mark (the families of the text
# come first), else by a font that has it (added like any other character's), else reported as missing.
_INVISIBLE = {"Zs", "Zl", "Zp", "Cc", "Cf"}
_SELECTORS = {0x034F, 0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}


def _font_files() -> list[str]:
    """Scalable font files on the machine: fontconfig's list, else the usual font folders."""
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout
            return sorted({line.strip() for line in out.splitlines() if line.strip().lower().endswith(_SCALABLE)})
        except (OSError, subprocess.SubprocessError):
            pass
    found = set()
    for folder in _FOLDERS:
        root = Path(os.path.expanduser(folder))
        if root.is_dir():
            found.update(str(p) for p in root.rglob("*") if p.suffix.lower() in _SCALABLE and p.is_file())
    return sorted(found)


@functools.lru_cache(maxsize=1)
def discover() -> tuple[str, ...]:
    """Add the machine's font files that matplotlib's (cached) font list lacks; return those added."""
    from matplotlib import font_manager

    known = {os.path.realpath(f.fname) for f in font_manager.fontManager.ttflist}
    added = []
    for path in _font_files():
        if os.path.realpath(path) in known:
            continue
        try:
            font_manager.fontManager.addfont(path)
        except (NotImplementedError, RuntimeError, OSError, ValueError):  # bitmap-only or unreadable
            continue
        added.append(path)
    return tuple(added)


def _installed() -> set[str]:
    from matplotlib import font_manager

    discover()
    return {f.name for f in font_manager.fontManager.ttflist}


def is_file(font: str | None) -> bool:
    """Whether ``font`` names a font file (``fonts/Serif.ttf``) rather than a family."""
    return bool(font) and (font.lower().endswith(_SCALABLE) or "/" in font or "\\" in font)  # type: ignore[union-attr]


@functools.lru_cache(maxsize=None)
def _file_family(path: str) -> str | None:
    """The family of the font file ``path``, added to matplotlib's fonts (None: not a font matplotlib can use)."""
    from matplotlib import font_manager

    try:
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    except (RuntimeError, OSError, ValueError):
        return None


def identity(path: str) -> dict[str, str]:
    """What a font file is to a cache key: its name and the sha256 of its content (never where it lies)."""
    import hashlib

    try:
        with open(path, "rb") as fh:
            return {"file": os.path.basename(path), "sha256": hashlib.sha256(fh.read()).hexdigest()}
    except OSError:  # warned about when a figure is drawn (usable)
        return {"file": os.path.basename(path), "sha256": ""}


def usable(font: str) -> bool:
    """Whether ``font`` (a family, or a font file's real path) can draw a picture here."""
    if is_file(font):
        return _file_family(font) is not None
    return font in _installed()


def families(font: str | None, lang: str | None = None) -> list[str]:
    """The family list of a figure: ``font`` (a family, or the family of a font file) when it can be used here,
    DejaVu Sans, then the first installed CJK family (the figure's language's own first). A family that is not
    installed is left out (the build warns about it once: :func:`usable`), not handed to matplotlib, which would
    say so for every text it draws."""
    installed = _installed()
    if font and is_file(font):
        font = _file_family(font)
    chosen = [font] if font and font in installed else []
    chosen.append("DejaVu Sans")
    order = _CJK_FIRST.get(lang or "", ()) + CJK_FAMILIES
    cjk = next((name for name in order if name in installed), None)
    if cjk:
        chosen.append(cjk)
    return list(dict.fromkeys(chosen))


@functools.lru_cache(maxsize=None)
def _charmap(path: str, index: int) -> frozenset[int]:
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(path, face_index=index).get_charmap())
    except (RuntimeError, OSError, ValueError):
        return frozenset()


@functools.lru_cache(maxsize=None)
def _family_file(family: str) -> tuple[str, int] | None:
    """The font file (and face) matplotlib draws ``family`` with, or None when it is not installed."""
    from matplotlib import font_manager

    try:
        found = font_manager.fontManager.findfont(font_manager.FontProperties(family=family),
                                                  fallback_to_default=False)
    except ValueError:
        return None
    return str(found), int(getattr(found, "face_index", 0) or 0)


def coverage(family_list: list[str]) -> frozenset[int]:
    """The code points the families of ``family_list`` have glyphs for (families not installed add nothing)."""
    return _coverage(tuple(family_list))


@functools.lru_cache(maxsize=64)
def _coverage(family_list: tuple[str, ...]) -> frozenset[int]:
    covered: set[int] = set()
    for family in family_list:
        where = _family_file(family) if not family.startswith(_PLACEHOLDER_FONTS) else None
        if where is not None:
            covered |= _charmap(*where)
    return frozenset(covered)


@functools.lru_cache(maxsize=None)
def _family_for(code: int) -> str | None:
    """An installed family whose drawn (regular) face has a glyph for ``code`` (regular faces first), or None."""
    from matplotlib import font_manager

    discover()
    entries = sorted((f for f in font_manager.fontManager.ttflist if not f.name.startswith(_PLACEHOLDER_FONTS)),
                     key=lambda f: (f.weight not in (400, "normal", "regular"), f.style != "normal", f.name))
    for entry in entries:
        # the family must draw it at the figure's weight: a bold face's glyph does not help a regular label
        if code in _charmap(str(entry.fname), int(getattr(entry, "index", 0) or 0)) and code in coverage([entry.name]):
            return entry.name
    return None


def drawable(char: str, family_list: list[str] | None = None) -> bool:
    """Whether ``char`` can be drawn: by one of ``family_list`` (default: any installed font)."""
    if family_list is not None and ord(char) in coverage(family_list):
        return True
    return _family_for(ord(char)) is not None


def _visible(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) not in _INVISIBLE and ord(c) not in _SELECTORS}


def _texts(artist) -> list:
    """Every text ``artist`` draws. Like ``findobj(Text)``, but an axis that is not drawn (``axis("off")``, or
    hidden) is not asked for its ticks, which it would make just to be asked (a tenth of a PNG's time)."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    found = [artist] if isinstance(artist, Text) else []
    for child in artist.get_children():
        if isinstance(child, Axis) and (not child.get_visible() or
                                        (isinstance(artist, Axes) and not artist.axison)):
            continue
        found += _texts(child)
    return found


def complete(fig) -> list[str]:
    """Give every text of ``fig`` a font for each of its characters; return the characters no installed font has
    (sorted), which would show as boxes."""
    missing: set[str] = set()
    for text in _texts(fig):
        chars = _visible(text.get_text())
        if not chars:
            continue
        family_list = list(text.get_fontfamily())
        covered = coverage(family_list)
        need = {c for c in chars if ord(c) not in covered}
        if not need:
            continue
        extra = []
        for c in sorted(need):
            family = _family_for(ord(c))
            if family is None:
                missing.add(c)
            elif family not in family_list and family not in extra:
                extra.append(family)
        if extra:
            text.set_fontfamily(family_list + extra)
    return sorted(missing)

