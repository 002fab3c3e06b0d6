"""Figures in a notebook: ``av.show(sentence, model=..., **options)``.

A thin host, like the others: the keyword options are the directive's (:data:`~mkdocs_attnviz.spec.OPTIONS`, read
by :func:`~mkdocs_attnviz.spec.build_spec`, with its messages), the site-wide ones (``models``, ``cache_dir``,
``device``) go through :func:`~mkdocs_attnviz.settings.build_settings`, and :class:`~mkdocs_attnviz.pipeline.
FigureBuilder` does the rest. :func:`show` returns a :class:`NotebookFigure`, which Jupyter (Lab, Notebook 7,
VS Code, nbconvert, mkdocs-jupyter, myst-nb) displays through ``_repr_mimebundle_``:

* ``text/html``: the figure page — BokehJS, the scripts, the styles and the data all inside it
  (``resources = "inline"``), so no request leaves the page — in an ``<iframe srcdoc>``: the notebook's CSS does
  not reach it, and figures of one notebook do not share ids or globals. After the frame comes the PNG (a
  ``data:`` URL), which the frame hides once it loads: where the output is sanitised (an untrusted notebook in
  JupyterLab drops iframes and scripts) or scripts do not run, the picture is what remains.
* ``image/png``: the static picture, for frontends and converters that pick it (PDF, GitHub's viewer).

The cache is the project's: the nearest ``properdocs.yml``, ``mkdocs.yml`` or ``zensical.toml`` in the current
folder or above gives the settings its site builds with (cache folder, ``models`` map, ``defaults``), so a notebook
and the site share extracted attention; without one the cache is the MkDocs plugin's default
(:data:`~mkdocs_attnviz.settings.DEFAULT_CACHE`) under the current folder.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import AttnvizError
from .pipeline import Figure, FigureBuilder
from .settings import DEFAULT_CACHE, Settings, build_settings
from .spec import build_spec
from .toolkit.page import inline_sides

__all__ = ["show", "NotebookFigure", "notebook_settings", "project_config", "CONFIG_NAMES"]

#: what marks a project folder, nearest first in each folder (ProperDocs' own order, then Zensical)
CONFIG_NAMES = ("properdocs.yml", "properdocs.yaml", "mkdocs.yml", "mkdocs.yaml", "zensical.toml")

#: where the messages of av.show say the problem is
WHERE = "av.show"

_BUILDERS: dict[str, FigureBuilder] = {}  # one per settings: loaded models and memos kept across cells


def project_config(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest project config (:data:`CONFIG_NAMES`) in ``start`` (default: the current folder) or above."""
    folder = Path(start or os.getcwd()).resolve()
    for place in (folder, *folder.parents):
        for name in CONFIG_NAMES:
            if (place / name).is_file():
                return place / name
    return None


def notebook_settings(*, models: Mapping[str, str] | None = None, cache_dir: str | os.PathLike | None = None,
                      device: str | None = None, project: str | os.PathLike | bool | None = None) -> Settings:
    """The settings :func:`show` builds with: the project's (``project``: a config file or folder; ``None``: the
    nearest, see :func:`project_config`; ``False``: none), with ``models`` added to its map and ``cache_dir`` and
    ``device`` on top (relative folders from the current folder). Figures are self-contained and always have a PNG."""
    cwd = os.getcwd()
    given: dict[str, Any] = {"models": dict(models or {})}
    if cache_dir is not None:
        given["cache_dir"] = os.fspath(cache_dir)
    if device is not None:
        given["device"] = device
    mine = build_settings(given, cwd)  # checked with the settings' own messages
    base = _project_settings(project, cwd)
    change: dict[str, Any] = {"models": {**base.models, **mine.models}, "resources": "inline", "fallback_png": True,
                              "host": "notebook", "config_file": None,
                              "allowed_root": os.path.abspath(os.sep)}  # a notebook may name any folder
    if cache_dir is not None:
        change["cache_dir"] = mine.cache_dir
    if device is not None:
        change["device"] = mine.device
    return dataclasses.replace(base, **change)


def _project_settings(project: str | os.PathLike | bool | None, cwd: str) -> Settings:
    if project is False:
        return build_settings({}, cwd)
    config = project_config(cwd) if project is None or project is True else Path(project)
    if config is None:
        return build_settings({}, cwd)
    if config.is_dir():
        found = next((config / name for name in CONFIG_NAMES if (config / name).is_file()), None)
        if found is None:
            raise AttnvizError(f"project={os.fspath(project)!r}: the folder holds none of {', '.join(CONFIG_NAMES)}")
        config = found
    from .cli.common import UsageError
    from .cli.projects import load_project

    try:
        from click import ClickException  # MkDocs' and ProperDocs' config errors (Abort) are click's
    except ImportError:
        ClickException = UsageError
    try:
        return load_project(config).settings
    except UsageError as exc:
        if "does not use the attnviz" in str(exc):  # the plugin's defaults, where the site would keep its cache
            return build_settings({"cache_dir": DEFAULT_CACHE}, config.parent)
        raise AttnvizError(f"{exc} (project=False: ignore the project)") from None
    except ClickException as exc:
        raise AttnvizError(f"{config}: the project's config is invalid ({exc.message}; the log says why); "
                           "project=False: ignore the project") from None


def _builder(settings: Settings) -> FigureBuilder:
    key = json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str)
    if key not in _BUILDERS:
        _BUILDERS[key] = FigureBuilder(settings)
    return _BUILDERS[key]


def _option_text(name: str, value: Any) -> str:
    """A keyword argument as a directive writes it: ``True`` → ``true``, ``["a", "b"]`` → ``a|b``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "|".join(str(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def show(text: str, model: str | None = None, *, models: Mapping[str, str] | None = None,
         cache_dir: str | os.PathLike | None = None, device: str | None = None,
         project: str | os.PathLike | bool | None = None, **options: Any) -> "NotebookFigure":
    """The attention figure of ``text``: what an ``attnviz`` block with these options draws.

    ``model`` and ``**options`` are the directive's options (``layer=2``, ``head="mean"``, ``view="heads"``,
    ``lang="ja"``...); ``models`` maps names to local folders, ``cache_dir`` and ``device`` are the site settings of
    that name, ``project`` the config whose settings to use (see :func:`notebook_settings`). Raises
    :class:`~mkdocs_attnviz.errors.AttnvizError` naming the option at fault."""
    if model is not None:
        options["model"] = model
    given = {name: _option_text(name, value) for name, value in options.items() if value is not None}
    try:
        settings = notebook_settings(models=models, cache_dir=cache_dir, device=device, project=project)
        spec = build_spec(given, text or "", defaults=settings.defaults)
        builder = _builder(settings)
        builder.reset_stats()  # each call is a build: its models resolved again (a folder changed between cells)
        with warnings.catch_warnings():  # tqdm's, on importing transformers in a kernel without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            figure = builder.build(spec, page_dir=os.getcwd())
    except AttnvizError as exc:
        raise exc.located(WHERE, None) from None
    for warning in figure.warnings:
        warnings.warn(f"attnviz: {warning.located(WHERE, None)}", stacklevel=2)
    return NotebookFigure(builder, figure)


class NotebookFigure:
    """One figure: displayed by Jupyter (``text/html``, ``image/png``), saved with :meth:`save`."""

    def __init__(self, builder: FigureBuilder, figure: Figure) -> None:
        self.builder = builder
        self.figure = figure

    @property
    def description(self) -> str:
        """What the figure shows, e.g. ``model M, layer 5 of 6 (last), mean of 12 heads``."""
        return self.figure.description

    @property
    def page(self) -> str:
        """The figure's standalone HTML page: everything it needs is inside it."""
        fig, builder = self.figure, self.builder
        page = builder.figure_file(fig.key, ".html").decode("utf-8")
        sides = [builder.figure_file(fig.key, s).decode("ascii") for s in fig.files
                 if s not in (".html", ".png") and not s.startswith("@")]
        return inline_sides(page, sides) if sides else page  # a long input's layers go into the page too

    @property
    def png(self) -> bytes:
        """The figure's static picture (PNG)."""
        return self.builder.figure_file(self.figure.key, ".png")

    def svg(self) -> bytes:
        """The figure's static picture as SVG (text as paths; drawn on request, not cached)."""
        return self.builder.svg(self.figure.spec)

    def html(self) -> str:
        """What a notebook shows: the page in an ``<iframe srcdoc>``, the PNG after it (hidden once the frame loads)
        and the description."""
        fig = self.figure
        alt = html.escape(fig.alt)
        png = base64.b64encode(self.png).decode("ascii")
        caption = fig.spec.caption or (fig.description[:1].upper() + fig.description[1:])
        return (f'<div class="attnviz-notebook" data-attnviz="{fig.key}" style="margin:0.5em 0;max-width:100%">'
                f'<iframe class="attnviz-frame" srcdoc="{html.escape(self.page)}" title="{alt}" '
                f'style="display:block;width:100%;height:{int(fig.height)}px;border:0;background:transparent" '
                "onload=\"var n=this.nextElementSibling;if(n&&n.tagName==='IMG')n.style.display='none'\"></iframe>"
                f'<img class="attnviz-print" src="data:image/png;base64,{png}" alt="{alt}" '
                'style="display:block;max-width:100%;height:auto">'
                f'<div class="attnviz-caption" style="font-size:0.85em;text-align:center;margin-top:0.3em">'
                f"{html.escape(caption)}</div></div>")

    def _repr_mimebundle_(self, include: Iterable[str] | None = None,
                          exclude: Iterable[str] | None = None) -> dict[str, Any]:
        makers = {"text/html": self.html, "image/png": lambda: base64.b64encode(self.png).decode("ascii"),
                  "text/plain": self.__repr__}
        wanted = [m for m in makers if (include is None or m in include) and (exclude is None or m not in exclude)]
        return {mime: makers[mime]() for mime in wanted}

    def __repr__(self) -> str:
        return f"<attnviz figure: {self.figure.description}>"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the figure to ``path``: ``.html`` (the standalone page), ``.png`` or ``.svg``."""
        out = Path(path)
        suffix = out.suffix.lower()
        if suffix == ".html":
            data = self.page.encode("utf-8")
        elif suffix == ".png":
            data = self.png
        elif suffix == ".svg":
            data = self.svg()
        else:
            raise AttnvizError(f"cannot save {os.fspath(path)!r}: the file name must end in .html, .png or .svg")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return out
