"""The HTML a host page holds for a figure (``<figure>`` with its frame, PNG and caption) or for an error."""

from __future__ import annotations

import os
from typing import Iterable

from .errors import AttnvizError
from .figure import Figure
from .locations import without_machine_paths
from .texts import Texts
from .toolkit import assets
from .toolkit.page import environment

__all__ = ["embed_html", "error_html"]


def embed_html(figure: Figure, language: str, url_prefix: str = "", *, srcdoc: str | None = None,
               png_url: str | None = None) -> str:
    """The ``<figure>`` a host page embeds; ``url_prefix`` leads from the page to the assets folder; ``language``:
    the site's, for a figure that names none.

    ``srcdoc`` (the figure page's HTML) and ``png_url`` carry the figure in the page itself instead
    (:mod:`mkdocs_attnviz.inline`)."""
    if srcdoc is None:
        html_url = url_prefix + figure.filename(".html")
        png_url = url_prefix + figure.filename(".png") if ".png" in figure.files else None
    else:
        html_url = None
    return environment().get_template("embed.html.jinja").render(
        fig=figure, spec=figure.spec, prefix=url_prefix, html_url=html_url, png_url=png_url,
        srcdoc=srcdoc, host_script=assets.host_script(), _=Texts(figure.spec.lang or language)._)


def error_html(error: AttnvizError, language: str, roots: "Iterable[str | os.PathLike | None]" = ()) -> str:
    """The error box a host page shows in place of a figure: a path inside one of ``roots`` (the project's folders)
    relative to it, the home folder as ``~`` (:func:`~mkdocs_attnviz.locations.without_machine_paths`)."""
    shown = without_machine_paths(str(error), list(roots))
    return environment().get_template("error.html.jinja").render(error=shown, _=Texts(language)._)
