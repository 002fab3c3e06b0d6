"""The files every figure page shares: its stylesheets, its scripts and the words of each language.

A published figure page links them (``<link>``/``<script src>`` with a version taken from their content, so a
browser caches them across figures and pages, and a new release is fetched anew): a figure then carries only its
own data. A figure page that must stand alone — ``resources = "inline"``, ``attnviz render -o f.html`` — has them
put into it (``inline`` of :func:`render_page`); a page carried inside its host page (Zensical, the single-file
report) runs the host page's one copy of each (:mod:`mkdocs_attnviz.inline`). :func:`files` is what a host
publishes next to the figure pages, through :meth:`mkdocs_attnviz.pipeline.FigureBuilder.publish`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any, Iterable

from ..i18n import LANGUAGES
from .page import asset_text, environment, markup, script_json, script_text, style_text, templates_dir

__all__ = ["SHARED", "TYPES", "HOST", "host_script", "texts_name", "content", "version", "tags", "render_page", "files"]

#: the page contract's JSDoc types: for ``tsc``, never loaded by a page
TYPES = "attnviz-types.js"
#: the host page's script (frames that fit, frames released far from the reader): in every embed snippet
HOST = "attnviz-host.js"
#: the words of one language, for the scripts (``Attnviz.words``)
_TEXTS = "attnviz-texts.{lang}.js"
_TEXTS_RE = re.compile(r"^attnviz-texts\.([a-z]{2})\.js$")


def _shared() -> tuple[str, ...]:
    folder = templates_dir()
    return tuple(sorted(p.name for p in folder.iterdir()
                        if p.suffix in (".js", ".css") and p.name not in ("attnviz.css", TYPES, HOST)))


#: the stylesheets and scripts of the figure pages (``attnviz.css`` is the host page's own, published apart)
SHARED = _shared()


def texts_name(lang: str) -> str:
    """The file of the scripts' words in ``lang``."""
    return _TEXTS.format(lang=lang)


@functools.lru_cache(maxsize=None)
def content(name: str) -> str:
    """The text of a shared file: one of :data:`SHARED`, or the words of a language (:func:`texts_name`)."""
    m = _TEXTS_RE.match(name)
    if m:
        from ..texts import Texts

        return "(window.Attnviz = window.Attnviz || {}).words = " + script_json(Texts(m.group(1)).static_texts()) + ";\n"
    if name not in SHARED:
        raise ValueError(f"not a shared file of the figure pages: {name!r}")
    return asset_text(name)


@functools.lru_cache(maxsize=None)
def version(name: str) -> str:
    """A short hash of the file's content (the ``?v=`` of the links: a changed file is a new URL)."""
    return hashlib.sha256(content(name).encode("utf-8")).hexdigest()[:10]


def tags(css: tuple[str, ...], scripts: tuple[str, ...], *, inline_them: bool,
         own: tuple[tuple[str, str], ...] = ()):
    """``(styles, scripts)`` markup of a figure page: links to the shared files, or their contents. ``own``:
    ``(name, script)`` of files some figures share (a heatmap's Bokeh document), before ``scripts``."""
    extra = dict(own)
    names = tuple(extra) + tuple(scripts)

    def text(name: str) -> str:
        return extra[name] if name in extra else content(name)

    def tag_version(name: str) -> str:
        return hashlib.sha256(extra[name].encode("utf-8")).hexdigest()[:10] if name in extra else version(name)

    if inline_them:
        return (markup("<style>\n" + style_text("".join(content(name) for name in css)) + "\n</style>"),
                markup("<script>\n" + script_text("\n".join(text(name) for name in names)) + "\n</script>"))
    return (markup("\n".join(f'<link rel="stylesheet" href="{name}?v={version(name)}">' for name in css)),
            markup("\n".join(f'<script src="{name}?v={tag_version(name)}"></script>' for name in names)))


@functools.lru_cache(maxsize=None)
def host_script():
    """The host page's script (:data:`HOST`) as an embed snippet carries it: comments and indentation out, safe
    inside ``<script>``."""
    code = re.sub(r"/\*.*?\*/", "", asset_text(HOST), flags=re.S)
    code = "\n".join(line.strip() for line in code.splitlines()
                     if line.strip() and not line.strip().startswith("//"))
    return markup(script_text(code))


def render_page(template: str, *, css: tuple[str, ...], scripts: tuple[str, ...], lang: str, inline: bool = False,
                own: tuple[tuple[str, str], ...] = (), **context: Any) -> str:
    """Fill a page template in language ``lang``: the shared files ``css`` and ``scripts`` (after the scripts' words
    of ``lang`` and the figure's ``own`` shared files) linked — the browser caches them — or, with ``inline``, put
    into the page (:func:`tags`); ``context`` goes to the template as it is."""
    styles, js = tags(css, (texts_name(lang),) + tuple(scripts), inline_them=inline, own=own)
    return environment().get_template(template).render(styles=styles, scripts=js, lang=lang, **context)


def files(languages: Iterable[str] | None = None) -> dict[str, bytes]:
    """Every shared file, by name, as a host publishes them next to the figure pages, with the words of
    ``languages`` (the languages of the figures published; ``None``: every language)."""
    names = list(SHARED) + [texts_name(lang) for lang in sorted(LANGUAGES if languages is None else set(languages))]
    return {name: content(name).encode("utf-8") for name in names}
