"""The figure's language: gettext catalogues (Babel), one per supported language.

Every word a figure writes (selectors, axis titles, colour bar, tooltips, captions and descriptions, alt text,
no-script text, error boxes, download buttons, the CLI report's chrome) is a message of the ``attnviz`` domain,
translated through the catalogues in ``mkdocs_attnviz/locale/<lang>/LC_MESSAGES/attnviz.po``. Tokens are never
translated. The catalogues are compiled with Babel on first use in a process (no compiled files to keep in sync).

Regenerate the template after changing messages, then merge it into each catalogue::

    pybabel extract -F babel.cfg -k N_ -o mkdocs_attnviz/locale/attnviz.pot .
    pybabel update -D attnviz -i mkdocs_attnviz/locale/attnviz.pot -d mkdocs_attnviz/locale

(``tests/test_i18n.py`` fails when a message is missing from a catalogue or left untranslated.)
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from .errors import AttnvizError

__all__ = ["LANGUAGES", "DEFAULT", "DOMAIN", "LOCALE_DIR", "normalize", "translations", "N_"]

#: the languages figures speak: code → the language's own name
LANGUAGES = {"en": "English", "ja": "日本語", "zh": "简体中文", "ko": "한국어", "de": "Deutsch", "fr": "Français",
             "es": "Español"}
DEFAULT = "en"
DOMAIN = "attnviz"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: language tags that name Simplified Chinese (``zh`` alone is taken as Simplified)
_SIMPLIFIED = {"zh", "zh_cn", "zh_sg", "zh_hans", "zh_hans_cn", "zh_hans_sg", "zh_my"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction, translate later")
    """Mark ``message`` for the catalogues without translating it here."""
    return message


def normalize(lang: str | None, *, option: str = "lang") -> str:
    """A supported language code from what a site or a block says (``ja``, ``ja_JP``, ``zh-Hans``, ``de-DE``...).

    ``None`` or empty → English. A language we have no catalogue for is an error naming ``option`` (with the list),
    never a silent switch to another language."""
    if lang is None or not str(lang).strip():
        return DEFAULT
    tag = str(lang).strip().replace("-", "_").lower()
    base = tag.split("_")[0]
    if base == "zh":
        if tag in _SIMPLIFIED:
            return "zh"
    elif base in LANGUAGES:
        return base
    known = ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())
    raise AttnvizError(f"figures have no translation into {lang!r}; available: {known}", option=option)


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (a code of :data:`LANGUAGES`); English is the messages themselves."""
    code = normalize(lang)
    if code == DEFAULT:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=code, domain=DOMAIN)
    except OSError as exc:
        raise AttnvizError(f"the {LANGUAGES[code]} catalogue is missing ({path}): reinstall the package") from exc
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)
