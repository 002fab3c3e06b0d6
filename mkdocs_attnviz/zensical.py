"""Zensical: the ``attnviz`` Markdown extension, configured by one table of ``zensical.toml``.

Zensical (the successor of Material for MkDocs) runs Python-Markdown extensions and no MkDocs plugins. A site adds::

    [project.markdown_extensions.attnviz]
    models = { "sentence-transformers/all-MiniLM-L6-v2" = "models/minilm" }

with the keys of :data:`~mkdocs_attnviz.settings.SETTINGS` (and ``enabled``), and nothing else: the extension
registers its fence with ``pymdownx.superfences`` itself (:mod:`mkdocs_attnviz.fence`), and learns the project and
the page from Zensical's rendering context (``md.preprocessors["rendering_context"]``: ``.page.path`` relative to
``docs_dir``, ``.config["root_dir"|"docs_dir"]``). This module reads that context; it never imports Zensical.

* Relative ``cache_dir`` and ``models`` folders are taken from the folder of ``zensical.toml``, whatever the
  current folder. The cache defaults to :data:`ZENSICAL_CACHE`, outside Zensical's own ``.cache`` (which
  ``zensical build --clean`` deletes and git ignores). :data:`CACHE_ONLY_ENV` turns ``cache_only`` on for CI.
* Zensical strips a page's front matter before Python sees it; messages count it back in, so a line number is the
  file's.
* Zensical creates a Markdown instance (and an extension) per page: the figure builder, with its cache, memos and
  loaded models, is kept per project and settings for the whole process (``zensical serve`` included).
* Zensical copies no file of ours into the site, so figures travel inside their page (:mod:`mkdocs_attnviz.inline`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
from typing import Any, Mapping

from . import logs
from .errors import AttnvizError
from .locations import front_matter_lines, relative_page_name
from .pipeline import FigureBuilder
from .settings import Settings, build_settings, with_site_language

__all__ = ["ZENSICAL_CACHE", "CACHE_ONLY_ENV", "ZensicalPage", "zensical_page", "zensical_settings", "attnviz_table", "theme_language"]

#: the cache folder under Zensical, relative to the folder of zensical.toml (Zensical's ``.cache`` is wiped by
#: ``--clean`` and git-ignored, so a committed cache cannot live there)
ZENSICAL_CACHE = ".attnviz-cache"

#: environment variable that turns ``cache_only`` on or off for one build (``CI``: on), since a TOML config cannot
#: read the environment the way mkdocs.yml's ``!ENV`` does
CACHE_ONLY_ENV = "ATTNVIZ_CACHE_ONLY"

_BUILDERS: dict[str, tuple[FigureBuilder, threading.Lock]] = {}  # by settings
_TABLES: dict[str, tuple[FigureBuilder, threading.Lock]] = {}  # by what the settings are made from (every page asks)
_BUILDERS_LOCK = threading.Lock()


@dataclasses.dataclass
class ZensicalPage:
    """What the extension needs to know about the page Zensical is rendering."""

    builder: FigureBuilder
    lock: threading.Lock  # one figure built at a time per builder, whichever thread Zensical renders in
    page: str  # the page's file, relative to the project folder: "docs/guide/page.md"
    page_dir: str  # its folder (data= files are looked up there first)
    line_offset: int  # lines of front matter Zensical stripped before rendering


def zensical_page(md: Any, lines: list[str], values: Mapping[str, Any], extra_keys: list[str]) -> ZensicalPage | None:
    """The page ``md`` renders under Zensical (``None``: not under Zensical). ``values`` are the keys of the
    extension's table; ``extra_keys`` the keys a Zensical site may not set (the extension's own, for other hosts).
    Raises :class:`AttnvizError` for an invalid table (the build stops, as for an invalid MkDocs plugin config)."""
    context = md.preprocessors["rendering_context"] if "rendering_context" in md.preprocessors else None
    config, page = getattr(context, "config", None), getattr(context, "page", None)
    if not isinstance(config, Mapping) or "root_dir" not in config or getattr(page, "path", None) is None:
        return None
    _clean_failures()
    if extra_keys:
        raise AttnvizError(f"invalid [project.markdown_extensions.attnviz] in {config_name()}: "
                           f"{', '.join(sorted(extra_keys))} cannot be set under Zensical (the extension finds the "
                           "project, the page and where figures go by itself)")
    root = os.path.abspath(str(config["root_dir"]))
    docs_dir = os.path.join(root, str(config.get("docs_dir") or "docs"))
    source = os.path.join(docs_dir, str(page.path))
    site_dir = os.path.join(root, str(config.get("site_dir") or "site"))
    builder, lock = _builder(values, root, docs_dir, theme_language(config), site_dir)
    return ZensicalPage(builder=builder, lock=lock, page=relative_page_name(source, root),
                        page_dir=os.path.dirname(source), line_offset=_front_matter_lines(source, lines))


def zensical_settings(values: Mapping[str, Any], root: str | os.PathLike, docs_dir: str | os.PathLike,
                      site_language: str | None = None, config_file: str | None = None,
                      site_dir: str | os.PathLike | None = None) -> Settings:
    """The settings of a Zensical project from the keys of its attnviz table (``enabled`` aside): the cache in
    :data:`ZENSICAL_CACHE` unless the table names one, ``cache_only`` from :data:`CACHE_ONLY_ENV` when it is set,
    the figures' language from the site's (``[project.theme] language``) unless the table names one."""
    config_file = config_file or config_name()
    settings = with_site_language({"cache_dir": ZENSICAL_CACHE, **values}, site_language)
    flag = os.environ.get(CACHE_ONLY_ENV, "").strip().lower()
    if flag:
        if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise AttnvizError(f"environment variable {CACHE_ONLY_ENV}={flag!r}: expected true or false")
        settings["cache_only"] = flag in ("1", "true", "yes", "on")
    try:
        return build_settings(settings, root, docs_dir=docs_dir, host="zensical", config_file=config_file,
                              published={"site_dir": site_dir})
    except AttnvizError as exc:
        raise AttnvizError(f"invalid [project.markdown_extensions.attnviz] in {config_file}: {exc}") from None


def config_name(argv: list[str] | None = None) -> str:
    """The config file this ``zensical`` run reads, as the user named it (``-f other.toml``), else the one Zensical
    finds in the current folder."""
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        if arg in ("-f", "--config-file") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config-file="):
            return arg.split("=", 1)[1]
        if arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return next((name for name in ("zensical.toml", "mkdocs.yml", "mkdocs.yaml") if os.path.exists(name)),
                "zensical.toml")


def _clean_failures() -> None:
    """Zensical wraps an exception raised while it renders a page into a RuntimeError that ends the run with a
    traceback after "No issues found": for ours (an invalid table, ``on_error = "fail"``), print the message alone."""
    previous = sys.excepthook
    if getattr(previous, "attnviz", False):
        return

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        text = str(value)
        for name in ("AttnvizFenceError: ", "AttnvizError: "):
            if isinstance(value, RuntimeError) and name in text:
                message = text.split(name, 1)[1].split("\nTraceback", 1)[0].strip()
                print(f"ERROR   -  attnviz: {message.removeprefix('attnviz: ')}", file=sys.stderr)
                return
        previous(kind, value, tb)

    hook.attnviz = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def attnviz_table(project: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``attnviz`` table of the ``[project]`` of a zensical.toml (``None``: the project does not use it)."""
    extensions = project.get("markdown_extensions")
    if isinstance(extensions, list):  # the list form: ["attnviz", {attnviz = {...}}, ...]
        extensions = {k: v for item in extensions for k, v in
                      (item.items() if isinstance(item, Mapping) else [(item, {})])}
    if not isinstance(extensions, Mapping) or "attnviz" not in extensions:
        return None
    return dict(extensions["attnviz"] or {})


def theme_language(config: Mapping[str, Any]) -> str | None:
    """The site's language in a Zensical config (``[project.theme] language``; Zensical's default is en)."""
    theme = config.get("theme")
    return theme.get("language") if isinstance(theme, Mapping) else None


def _builder(values: Mapping[str, Any], root: str, docs_dir: str, site_language: str | None,
             site_dir: str | None = None) -> tuple[FigureBuilder, threading.Lock]:
    table = json.dumps([values, root, docs_dir, site_language, os.environ.get(CACHE_ONLY_ENV), site_dir], sort_keys=True,
                       default=str)
    with _BUILDERS_LOCK:
        if table in _TABLES:  # the settings of this table were built and checked (and warned about) already
            return _TABLES[table]
    settings = zensical_settings(values, root, docs_dir, site_language, site_dir=site_dir)
    key = json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str)
    with _BUILDERS_LOCK:
        if key not in _BUILDERS:
            _route_logging()
            wiped = os.path.join(root, ".cache")
            if settings.cache_dir and os.path.commonpath([settings.cache_dir, wiped]) == wiped:
                logs.logger.warning("attnviz: cache_dir %s is inside Zensical's .cache folder, which `zensical build "
                                    "--clean` deletes and git ignores: every figure is computed again after a clean "
                                    "(the default under Zensical is %s)", settings.cache_dir, ZENSICAL_CACHE)
            _BUILDERS[key] = (FigureBuilder(settings), threading.Lock())
        _TABLES[table] = _BUILDERS[key]
        return _BUILDERS[key]


def _route_logging() -> None:
    """Zensical configures no Python logging: print our warnings on stderr, as MkDocs would."""
    if logs.logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logs.attach(handler)


def _front_matter_lines(source: str, lines: list[str]) -> int:
    """How many lines of ``source`` Zensical removed before the Markdown it rendered (``lines``)."""
    try:
        with open(source, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return 0
    return front_matter_lines(text, "\n".join(lines))
