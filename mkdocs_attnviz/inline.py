"""Figures carried inside the host page: for hosts that copy none of attnviz's files into the site (Zensical), and
for the one-file report (``attnviz report --single-file``).

Zensical clears the site folder on every build, copies only ``docs_dir`` and theme files into it, and calls Python
only for the pages whose Markdown changed (the HTML of the others comes from its page cache). A figure file written
while a page renders would be gone after the next build, so everything a figure needs travels in the page's HTML:

* the figure page → the iframe's ``srcdoc`` (HTML-escaped: a third larger, the same size gzipped), its stylesheets
  put into it, a long input's side files too;
* the PNG (print, and readers without scripts) → one ``data:`` URL per figure;
* the stylesheet (``attnviz.css``: the print PNG hidden on screen, error boxes) and a ``<noscript>`` style that shows
  the PNG instead of the frame where scripts do not run → once per page;
* the scripts the figure pages share (attnviz-common.js, a view's script, the words of a language, a heatmap's
  Bokeh document) and BokehJS (heatmaps with ``resources = "local"``) → once per page, inert
  (``<script type="text/plain" id="attnviz-js-…">``), placed before the first figure that needs them; a figure page
  runs the host page's copy (a ``srcdoc`` document has its parent's origin) where a published page has
  ``<script src>``, BokehJS when its turn to draw comes (attnviz-common.js). BokehJS, most of the bytes, is carried
  deflated and base64-encoded (``data-encoding="deflate"``), as the figures' own data are, and
  inflated by the figure that runs it. ``cdn`` figure pages load BokehJS as they do on every host.

What this costs per figure and per page, next to the MkDocs route, is measured in ``docs/zensical.md``. This module
is the one place that decides how a figure travels inside a page; :class:`Carrier` keeps what a page already holds.
"""

from __future__ import annotations

import base64
import functools
import re
import zlib

from .errors import AttnvizError
from .pipeline import ASSETS_CSS, Figure, FigureBuilder
from .toolkit import assets, bokeh
from .toolkit.page import asset_text, inline_sides, style_text

__all__ = ["BOKEHJS_ID", "script_id", "Carrier", "figure_html", "page_assets"]

#: id of the page's one inert copy of BokehJS (attnviz-common.js looks for it)
BOKEHJS_ID = "attnviz-bokehjs"

#: where scripts do not run: the PNG in place of the frame (which could only say that it needs JavaScript)
_NOSCRIPT_CSS = ("figure.attnviz .attnviz-frame{display:none}"
                 "figure.attnviz .attnviz-print{display:block;margin:0 auto}")

_LINK = re.compile(r'<link rel="stylesheet" href="([A-Za-z0-9._-]+)\?v=[0-9a-f]+">\n?')
_SCRIPT = re.compile(r'<script src="([A-Za-z0-9._-]+)\?v=[0-9a-f]+"></script>')


def script_id(name: str) -> str:
    """The id of a shared script's inert copy in the host page."""
    return "attnviz-js-" + name


def _loader(name: str) -> str:
    """Replaces ``<script src="name">`` in a carried figure page: the host page's copy, run in place."""
    return ('<script>(function(){var s=document.createElement("script");try{s.textContent=parent.document.'
            f'getElementById("{script_id(name)}").textContent}}catch(e){{}}document.head.appendChild(s)}})()</script>')


def figure_html(builder: FigureBuilder, figure: Figure) -> tuple[str, dict[str, str]]:
    """The ``<figure>`` of ``figure`` with its page inside, and the scripts it takes from the host page
    (``{id: text}``)."""
    page = builder.figure_file(figure.key, ".html").decode("utf-8")
    own = {suffix[1:]: builder.figure_file(figure.key, suffix).decode("utf-8")
           for suffix in figure.files if suffix.startswith("@")}
    needs: dict[str, str] = {}

    def link(m: re.Match) -> str:
        return "<style>\n" + style_text(assets.content(m.group(1))) + "\n</style>\n"

    def script(m: re.Match) -> str:
        name = m.group(1)
        needs[script_id(name)] = own[name] if name in own else assets.content(name)
        return _loader(name)

    page = _SCRIPT.sub(script, _LINK.sub(link, page))
    sides = [builder.figure_file(figure.key, suffix).decode("ascii") for suffix in figure.files
             if suffix not in (".html", ".png") and not suffix.startswith("@")]
    if sides:  # a long input: its layers and heads go into the page too
        page = inline_sides(page, sides)
    if builder.settings.resources == "local" and '"bokehjs":{"src":"' + builder.bokehjs_name() in page:
        needs[BOKEHJS_ID] = bokeh.bokehjs_text()
    png = None
    if ".png" in figure.files:
        png = "data:image/png;base64," + base64.b64encode(builder.figure_file(figure.key, ".png")).decode("ascii")
    return builder.embed_html(figure, srcdoc=page, png_url=png), needs


def page_assets(*, css: bool, scripts: dict[str, str] | None = None) -> str:
    """What a page holds once, before the figures that need it: the stylesheet (``css``) and inert copies of
    ``scripts`` (``{id: text}``)."""
    parts = []
    if css:
        parts.append(f'<style class="attnviz-style">\n{asset_text(ASSETS_CSS)}</style>\n'
                     f"<noscript><style>{_NOSCRIPT_CSS}</style></noscript>")
    for ident, code in (scripts or {}).items():
        if ident == BOKEHJS_ID:
            parts.append(f'<script type="application/octet-stream" data-encoding="deflate" id="{ident}">'
                         f"{_deflated(code)}</script>")
            continue
        if "</script" in code.lower() or "<!--" in code:  # it would end the inert element early
            raise AttnvizError(f"{ident[len('attnviz-js-'):] if ident != BOKEHJS_ID else 'BokehJS'} cannot be "
                               "carried inside a page (it contains </script or <!--): set resources to cdn")
        parts.append(f'<script type="text/plain" id="{ident}">{code}</script>')
    return "\n".join(parts) + "\n" if parts else ""


@functools.lru_cache(maxsize=2)
def _deflated(code: str) -> str:
    """``code`` as base64 of zlib (level 9), the form attnviz-common.js inflates (BokehJS: once per process)."""
    return base64.b64encode(zlib.compress(code.encode("utf-8"), 9)).decode("ascii")


class Carrier:
    """What one host page holds already: each figure brings the shared files no earlier figure brought."""

    def __init__(self, *, styled: bool = False) -> None:
        self.styled = styled  # the page has attnviz.css (the report's template puts it in its head)
        self.held: set[str] = set()

    def assets(self, scripts: dict[str, str] | None = None) -> str:
        """The stylesheet (once) and the ``scripts`` the page does not hold yet."""
        new = {ident: code for ident, code in (scripts or {}).items() if ident not in self.held}
        html = page_assets(css=not self.styled, scripts=new)
        self.styled = True
        self.held.update(new)
        return html

    def figure(self, builder: FigureBuilder, figure: Figure) -> str:
        """The figure, after what it needs of the page that the page does not hold yet."""
        html, needs = figure_html(builder, figure)
        return self.assets(needs) + html
