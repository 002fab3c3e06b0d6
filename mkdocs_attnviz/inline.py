"""Figures carried inside the host page, for hosts that copy none of attnviz's files into the site (Zensical).

Zensical clears the site folder on every build, copies only ``docs_dir`` and theme files into it, and calls Python
only for the pages whose Markdown changed (the HTML of the others comes from its page cache). A figure file written
while a page renders would be gone after the next build, so everything a figure needs travels in the page's HTML:

* the figure page → the iframe's ``srcdoc`` (HTML-escaped: a third larger, the same size gzipped);
* the PNG (print, and readers without scripts) → one ``data:`` URL per figure;
* the stylesheet (``attnviz.css``: the print PNG hidden on screen, error boxes) and a ``<noscript>`` style that shows
  the PNG instead of the frame where scripts do not run → once per page;
* BokehJS, for heatmaps with ``resources = "local"`` → once per page, inert (``<script type="text/plain">``), placed
  before the page's first heatmap; each heatmap page evaluates it from its parent (a ``srcdoc`` document has its
  parent's origin), in place of the ``<script src>`` a published figure page has. ``cdn`` and ``inline`` figure
  pages load BokehJS as they do on every host.

What this costs per figure and per page, next to the MkDocs route, is measured in ``docs/zensical.md``. This module
is the one place that decides how a figure travels inside a page.
"""

from __future__ import annotations

import base64
from pathlib import Path

from .errors import AttnvizError
from .pipeline import ASSETS_CSS, Figure, FigureBuilder
from .toolkit import bokeh
from .toolkit.page import asset_text

__all__ = ["BOKEHJS_ID", "figure_html", "page_assets"]

#: id of the page's one inert copy of BokehJS
BOKEHJS_ID = "attnviz-bokehjs"

#: replaces ``<script src="bokeh.min.js">`` in a figure page carried in ``srcdoc``: BokehJS from the parent page
_LOADER = ('<script>(function(){var s=null;try{s=parent.document.getElementById("' + BOKEHJS_ID + '")}catch(e){}'
           'if(s)(0,eval)(s.textContent)})()</script>')

#: where scripts do not run: the PNG in place of the frame (which could only say that it needs JavaScript)
_NOSCRIPT_CSS = ("figure.attnviz .attnviz-frame{display:none}"
                 "figure.attnviz .attnviz-print{display:block;margin:0 auto}")


def figure_html(builder: FigureBuilder, figure: Figure) -> tuple[str, bool]:
    """The ``<figure>`` of ``figure`` with everything it needs inside, and whether it needs the page's BokehJS."""
    page = builder.figure_file(figure.key, ".html").decode("utf-8")
    tag = f'<script src="{builder.bokehjs_name()}"></script>'
    needs_bokehjs = builder.settings.resources == "local" and tag in page
    if needs_bokehjs:
        page = page.replace(tag, _LOADER, 1)
    png = None
    if ".png" in figure.files:
        png = "data:image/png;base64," + base64.b64encode(builder.figure_file(figure.key, ".png")).decode("ascii")
    return builder.embed_html(figure, srcdoc=page, png_url=png), needs_bokehjs


def page_assets(*, css: bool, bokehjs: bool) -> str:
    """What a page holds once, before its first figure: the stylesheet (``css``) and BokehJS (``bokehjs``)."""
    parts = []
    if css:
        parts.append(f'<style class="attnviz-style">\n{asset_text(ASSETS_CSS)}</style>\n'
                     f"<noscript><style>{_NOSCRIPT_CSS}</style></noscript>")
    if bokehjs:
        code = Path(next(iter(bokeh.bokehjs_files().values()))).read_text(encoding="utf-8")
        if "</script" in code.lower() or "<!--" in code:  # it would end the inert element early
            raise AttnvizError("this BokehJS cannot be carried inside a page (it contains </script or <!--): "
                               "set resources to cdn or inline")
        parts.append(f'<script type="text/plain" id="{BOKEHJS_ID}">{code}</script>')
    return "\n".join(parts) + "\n" if parts else ""
