"""The MkDocs plugin: a thin layer over the ``attnviz`` fence.

``plugins: [attnviz]`` is all a site needs. The plugin

* ``on_config``: resolves its settings and the cache folder (relative to ``mkdocs.yml``), adds
  ``pymdownx.superfences`` if the site lacks it, registers the ``attnviz`` custom fence and the
  :class:`~mkdocs_attnviz.fence.AttnvizExtension`, and puts its stylesheet *first* in ``extra_css`` so the
  site's own CSS wins;
* ``on_page_markdown``: tells the fence which page it is on (for messages and relative URLs);
* ``on_post_build``: copies the figures used by this build, BokehJS and the stylesheet into
  ``site/assets/attnviz/`` (on every build: ``mkdocs serve`` wipes the site folder), and logs one INFO
  line with the figures, cache hits and seconds.

It never writes into ``docs_dir``. Because it defines ``on_startup``, MkDocs keeps the plugin object
(and with it every loaded model) across ``mkdocs serve`` rebuilds.
"""

from __future__ import annotations

import os

from mkdocs.config import base
from mkdocs.config import config_options as opt
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
import logging

from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from .errors import AttnvizError
from .fence import FENCE, AttnvizExtension, relative_page_name
from .figures import ASSETS_CSS, FigureBuilder, Settings

__all__ = ["AttnvizConfig", "AttnvizPlugin"]

log = logging.getLogger("mkdocs.plugins.attnviz")

#: where the figures land inside the site
ASSETS_DIR = "assets/attnviz"


class AttnvizConfig(base.Config):
    """Configuration of the ``attnviz`` plugin (``plugins: [{attnviz: {...}}]`` in ``mkdocs.yml``)."""

    enabled = opt.Type(bool, default=True)
    """Turn the plugin off (``!ENV [ATTNVIZ, true]``); fences are then left as code blocks."""
    cache = opt.Type(bool, default=True)
    """Keep extracted attention and rendered figures on disk between builds."""
    cache_dir = opt.Type(str, default=".cache/plugin/attnviz")
    """Cache folder, relative to ``mkdocs.yml``. Commit it to build on CI without torch."""
    cache_only = opt.Type(bool, default=False)
    """Never load a model: a block missing from the cache is an error (``!ENV [CI, false]``)."""
    models = opt.DictOfItems(opt.Type(str), default={})
    """Map from a model name used in pages to a local folder (relative to ``mkdocs.yml``), for offline builds."""
    defaults = opt.DictOfItems(opt.Type((str, int)), default={})
    """Default options for every block, e.g. ``model``."""
    resources = opt.Choice(("local", "cdn", "inline"), default="local")
    """Where figures load BokehJS from: a copy in the site (``local``), Bokeh's CDN, or inlined in each figure."""
    fallback_png = opt.Type(bool, default=True)
    """Render a PNG of each figure for readers without scripts and for print."""
    on_error = opt.Choice(("warn", "fail"), default="warn")
    """``warn``: a bad block logs a warning and shows an error box; ``fail``: the build stops at the first."""
    device = opt.Choice(("auto", "cpu", "cuda", "map"), default="auto")
    """Device the models run on when the cache misses; `map` spreads a big model with accelerate."""
    trust_remote_code = opt.Type(bool, default=False)
    """Allow models whose repository ships its own code. Off: such models are refused."""
    font = opt.Optional(opt.Type(str))
    """Font family (or file) for the PNG labels; CJK fonts are found automatically."""


class AttnvizPlugin(BasePlugin[AttnvizConfig]):
    """Registers the ``attnviz`` fence, resolves its settings, and publishes the figures."""

    def __init__(self) -> None:
        self.builder: FigureBuilder | None = None
        self.extension: AttnvizExtension | None = None
        self._settings: Settings | None = None

    def on_startup(self, *, command: str, dirty: bool) -> None:
        # Defining this hook keeps the plugin (and its loaded models) alive across `mkdocs serve` rebuilds.
        self.command = command

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not self.config.enabled:
            return None
        root = os.path.dirname(os.path.abspath(config.config_file_path or "mkdocs.yml"))
        cfg = self.config
        settings = Settings(
            cache_dir=os.path.normpath(os.path.join(root, cfg.cache_dir)),
            cache=cfg.cache,
            cache_only=cfg.cache_only,
            models={name: os.path.normpath(os.path.join(root, os.path.expanduser(path)))
                    for name, path in cfg.models.items()},
            defaults=dict(cfg.defaults),
            resources=cfg.resources,
            fallback_png=cfg.fallback_png,
            on_error=cfg.on_error,
            device=cfg.device,
            trust_remote_code=cfg.trust_remote_code,
            base_dir=root,
            allowed_root=root,
            font=cfg.font,
            docs_dir=os.path.abspath(config.docs_dir),
        )
        try:
            from .spec import build_spec

            if settings.defaults:  # check the defaults once, with a clear message
                build_spec({}, "check", defaults={"model": "check", **settings.defaults})
        except AttnvizError as exc:
            raise PluginError(f"attnviz: invalid 'defaults' in mkdocs.yml: {exc}") from None
        if self.builder is None or settings != self._settings:
            self.builder = FigureBuilder(settings)
            self._settings = settings
        self.builder.reset_stats()
        self.extension = AttnvizExtension(builder=self.builder)

        # Register superfences (if the site lacks it), our fence, and our extension.
        names = [ext if isinstance(ext, str) else type(ext).__module__ for ext in config.markdown_extensions]
        if "pymdownx.superfences" not in names:
            config.markdown_extensions.append("pymdownx.superfences")
        sf = config.mdx_configs.setdefault("pymdownx.superfences", {})
        fences = [f for f in sf.get("custom_fences", []) if f.get("name") != "attnviz"]
        sf["custom_fences"] = [*fences, dict(FENCE)]
        config.markdown_extensions.append(self.extension)
        # Our stylesheet goes first so that the site's own CSS wins.
        css = f"{ASSETS_DIR}/{ASSETS_CSS}"
        if css not in config.extra_css:
            config.extra_css.insert(0, css)
        return config

    def on_page_markdown(self, markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str | None:
        if not self.config.enabled or self.extension is None:
            return None
        root = os.path.dirname(os.path.abspath(config.config_file_path or "mkdocs.yml"))
        ext = self.extension
        ext.page = relative_page_name(page.file.abs_src_path, root) if page.file.abs_src_path else page.file.src_uri
        ext.page_dir = os.path.dirname(page.file.abs_src_path) if page.file.abs_src_path else None
        ext.url = get_relative_url(f"{ASSETS_DIR}/", page.url)
        if not ext.url.endswith("/"):
            ext.url += "/"
        if ext.url == "./":
            ext.url = ""
        # Line numbers in messages count from the top of the file, front matter included.
        ext.line_offset = 0
        try:
            source = page.file.content_string
            if source.endswith(markdown) and len(source) > len(markdown):
                ext.line_offset = source[: len(source) - len(markdown)].count("\n")
        except (OSError, UnicodeDecodeError, TypeError):
            pass
        return None

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        if not self.config.enabled or self.builder is None:
            return
        try:
            self.builder.publish(os.path.join(config.site_dir, ASSETS_DIR))
        except AttnvizError as exc:
            raise PluginError(f"attnviz: {exc}") from None
        log.info(self.builder.summary())

    def on_shutdown(self) -> None:
        from . import extract

        extract.clear_models()
        self.builder = None
