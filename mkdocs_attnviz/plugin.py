"""The MkDocs plugin: a thin layer over the ``attnviz`` fence.

``plugins: [attnviz]`` is all a site needs. The plugin

* ``on_startup`` (``mkdocs serve``): begins the background warm-up (:class:`~mkdocs_attnviz.modelrefs.Warmup`):
  the quick previews of this machine (:mod:`~mkdocs_attnviz.extract.preview`) of the models the first build named
  (``on_post_build``), then torch, transformers and those models (on a machine without previews, torch and
  transformers beside the first build), then a preview of each model that has none;
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

from . import logs
from .errors import AttnvizError, did_you_mean
from .fence import FENCE, AttnvizExtension, scan
from .locations import front_matter_lines, relative_page_name
from .modelrefs import Warmup
from .pipeline import ASSETS_CSS, FigureBuilder
from .settings import SETTINGS, Setting, Settings, build_settings, with_site_language

__all__ = ["AttnvizConfig", "AttnvizPlugin", "site_language"]

#: MkDocs' logger of this plugin ("mkdocs.plugins.attnviz"): the core's records are forwarded to it
log = logging.getLogger("mkdocs.plugins.attnviz")

#: where the figures land inside the site
ASSETS_DIR = "assets/attnviz"


def _config_option(name: str, setting: Setting):
    """The MkDocs config option of one site-wide key of :data:`~mkdocs_attnviz.settings.SETTINGS`."""
    default = setting.default
    if setting.choices and name != "device":
        return opt.Choice(setting.choices, default=default)
    if isinstance(default, bool):
        return opt.Type(bool, default=default)
    if isinstance(default, dict):
        return opt.DictOfItems(opt.Type((str, int)) if name == "defaults" else opt.Type(str), default={})
    if default is None:
        return opt.Optional(opt.Type(str))
    return opt.Type(str, default=default)


#: Configuration of the ``attnviz`` plugin (``plugins: [{attnviz: {...}}]`` in ``mkdocs.yml``): ``enabled`` plus
#: every key of :data:`~mkdocs_attnviz.settings.SETTINGS` (relative folders are taken from ``mkdocs.yml``'s folder)
AttnvizConfig = type("AttnvizConfig", (base.Config,), {
    "enabled": opt.Type(bool, default=True),
    **{name: _config_option(name, setting) for name, setting in SETTINGS.items()},
})


def site_language(config: MkDocsConfig) -> str | None:
    """The site's language as the theme knows it (``theme.language``: mkdocs, readthedocs, Material)."""
    try:
        return config.theme["language"]
    except (KeyError, TypeError):
        return None


class AttnvizPlugin(BasePlugin[AttnvizConfig]):
    """Registers the ``attnviz`` fence, resolves its settings, and publishes the figures."""

    def __init__(self) -> None:
        self.builder: FigureBuilder | None = None
        self.extension: AttnvizExtension | None = None
        self._settings: Settings | None = None
        self._log_handler = None

    def load_config(self, options: dict, config_file_path: str | None = None):
        """MkDocs' own check of the plugin's keys, with "did you mean" added to an unrecognised one."""
        errors, warnings = super().load_config(options, config_file_path)
        unknown = {key for key, message in warnings if message.startswith("Unrecognised")}
        known = [key for key in self.config if key not in unknown]
        warnings = [(key, message + did_you_mean(key, known) if key in unknown else message)
                    for key, message in warnings]
        return errors, warnings

    def on_startup(self, *, command: str, dirty: bool) -> None:
        # Defining this hook keeps the plugin (and its loaded models) alive across `mkdocs serve` rebuilds.
        self.command = command
        #: `mkdocs serve`'s warm-up, begun before the first build: torch and transformers, then the site's models
        self.warmup: Warmup | None = None
        #: this machine's quick previews (mkdocs serve: an edit runs on onnxruntime until PyTorch has the models)
        self.previews = None
        if command == "serve" and self.config.enabled and not self.config.cache_only:
            from . import machine
            from .extract.preview import Previews

            folder = machine.previews_dir()
            self.previews = Previews(folder) if folder is not None else None
            self.warmup = Warmup(self.previews)

    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files | None:
        if self.config.enabled and self.builder is not None:  # how many blocks: "N left" in the progress lines
            self.builder.expect(sum(len(scan(f.content_string.splitlines())) for f in files.documentation_pages()
                                    if f.abs_src_path))
        return None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not self.config.enabled:
            return None
        if getattr(self, "warmup", None) is not None:
            self.warmup.building(True)
        root = os.path.dirname(os.path.abspath(config.config_file_path or "mkdocs.yml"))
        values = with_site_language({name: self.config[name] for name in SETTINGS}, site_language(config))
        try:
            settings = build_settings(values, root, docs_dir=config.docs_dir, host="mkdocs",
                                      config_file=os.path.basename(config.config_file_path or "mkdocs.yml"),
                                      published={"site_dir": config.site_dir})
        except AttnvizError as exc:
            raise PluginError(f"attnviz: invalid plugin config in mkdocs.yml: {exc}") from None
        if self._log_handler is None:
            self._log_handler = logs.attach(log)
        if self.builder is None or settings != self._settings:
            if self.builder is not None:
                self.builder.close()
            self.builder = FigureBuilder(settings, pictures_aside=True)  # PNGs drawn while the model runs
            self._settings = settings
        self.builder.previewing.previews = getattr(self, "previews", None)
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
        try:
            ext.line_offset = front_matter_lines(page.file.content_string, markdown)
        except (OSError, UnicodeDecodeError, TypeError):
            ext.line_offset = 0
        return None

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        if not self.config.enabled or self.builder is None:
            return
        try:
            self.builder.publish(os.path.join(config.site_dir, ASSETS_DIR))
        except AttnvizError as exc:
            raise PluginError(f"attnviz: {exc}") from None
        log.info(self.builder.summary())
        if getattr(self, "warmup", None) is not None:  # the first build named the site's models: load them next
            self.warmup.building(False)
            self.warmup.load(self.builder.models, self.builder.models_used())

    def on_build_error(self, *, error: Exception) -> None:
        if getattr(self, "warmup", None) is not None:
            self.warmup.building(False)
        if self.builder is not None:
            self.builder.close()  # the PNGs not drawn yet are not waited for

    def on_shutdown(self) -> None:
        from . import extract

        if getattr(self, "warmup", None) is not None:
            self.warmup.stop()
        extract.clear_models()
        if self.builder is not None:
            self.builder.close()
        self.builder = None
        if self._log_handler is not None:
            logs.detach(self._log_handler)
            self._log_handler = None

