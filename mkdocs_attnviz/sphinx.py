"""The Sphinx extension: the ``attnviz`` directive, in reStructuredText and in MyST Markdown.

``extensions = ["mkdocs_attnviz.sphinx"]`` in ``conf.py`` is all a project needs::

    .. attnviz:: sentence-transformers/all-MiniLM-L6-v2
       :layer: last
       :head: mean
       :caption: Mean of heads, last layer

       The cat sat on the mat because it was tired.

In MyST Markdown (add ``myst_parser`` to ``extensions``)::

    ```{attnviz} sentence-transformers/all-MiniLM-L6-v2
    :layer: last

    The cat sat on the mat because it was tired.
    ```

The argument is the model (optional when ``attnviz_defaults`` names one), the content is the sentence,
and the options are exactly those of the MkDocs fence, read by the same code
(:func:`mkdocs_attnviz.spec.build_spec`); figures go through the same
:class:`~mkdocs_attnviz.pipeline.FigureBuilder` and the same cache as MkDocs and the ``attnviz`` command.

Config values mirror the MkDocs plugin's with an ``attnviz_`` prefix (see :data:`CONFIG`); those that
change the figures make Sphinx read every document again.

Output
------
* ``html`` and ``dirhtml`` (and other builders derived from Sphinx's standalone HTML builder, except
  ``singlehtml`` and ``epub``) embed the interactive figure in an ``<iframe>`` with the PNG fallback,
  exactly as MkDocs does; the figure pages, their PNGs and BokehJS are copied once into
  ``<outdir>/_attnviz/`` (``attnviz_assets_dir``) and linked relatively from every page, nested or not.
  Like ``_static``, the folder starts with ``_``: publish on GitHub Pages with
  ``sphinx.ext.githubpages`` (it writes ``.nojekyll``).
* Every other builder (``latex``, ``epub``, ``text``, ``singlehtml``, ``man``, ``texinfo``...) gets the PNG
  as an ordinary figure with its caption.

Figures are built while documents are read; each document's figures are kept on the build environment
(with ``env-purge-doc`` and ``env-merge-info`` handlers), so ``-j N`` builds the same site as ``-j 1`` and
a removed document takes its figures with it.

The ``attnviz`` command reads the blocks of a project through Sphinx itself: it sets the internal config value
``attnviz_collect_only`` (not a setting for ``conf.py``), and the directive then only records each block (its
spec, or the error that stops it, with its file and line) on the build environment, where :func:`collected`
finds them after the build.

Problems with a block are warnings located at the document and line, typed ``attnviz.option``,
``attnviz.model``, ``attnviz.cache`` or ``attnviz.render``; a figure built with a warning
(:class:`~mkdocs_attnviz.errors.AttnvizWarning`) is typed by the option it names (``attnviz.max_tokens``,
``attnviz.font``, ``attnviz.target``...): silence them with ``suppress_warnings = ["attnviz.max_tokens"]``;
``sphinx-build -W`` fails on them.
``attnviz_on_error = "fail"`` stops the build at the first bad block instead.
"""

from __future__ import annotations

import dataclasses
import logging as pylogging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from . import __version__, logs
from .errors import AttnvizError, did_you_mean
from .files import write_if_changed
from .i18n import LANGUAGES
from .pipeline import ASSETS_CSS, Figure, FigureBuilder, file_name
from .settings import SETTINGS, Settings, build_settings, with_site_language
from .spec import OPTIONS, FigureSpec, build_spec

__all__ = ["setup", "AttnvizDirective", "CONFIG", "settings_from_config", "config_values", "CollectedBlock",
           "collected", "ENV_VERSION"]

logger = logging.getLogger(__name__)

#: bump when what is stored on the environment (``env.attnviz_figures``, ``env.attnviz_collected``, the nodes)
#: changes
ENV_VERSION = 2

#: ``attnviz_<name>``: (default, rebuild, meaning): every site-wide key of
#: :data:`~mkdocs_attnviz.settings.SETTINGS` (a change reads every document again, except ``device``), plus
#: ``assets_dir``, the folder of the HTML output that receives the figure files
CONFIG: dict[str, tuple[Any, str, str]] = {
    **{name: (setting.default, "" if name == "device" else "env", setting.help) for name, setting in SETTINGS.items()},
    "assets_dir": ("_attnviz", "html", "folder of the HTML output that receives the figure files"),
}

_KEY_FILE = re.compile(r"^(?P<key>[0-9a-f]{32})\.(html|png|l\d+\.[a-z0-9]+(\.o)?\.js)$")  # page, PNG, side files
_FIGURES_DIR = "attnviz"  # inside the doctree folder: the figure files of the documents read


# ------------------------------------------------------------------------------------------ settings

def settings_from_config(values: Mapping[str, Any], confdir: str | os.PathLike,
                         srcdir: str | os.PathLike | None = None,
                         published: Mapping[str, str | os.PathLike | None] | None = None) -> Settings:
    """:class:`Settings` from the ``attnviz_*`` values (given without the prefix; missing ones default).

    Relative ``cache_dir`` and ``models`` folders are taken from ``confdir``; model folders named in
    directives must stay inside it. Raises :class:`ConfigError` for a value of the wrong kind.
    """
    try:
        return build_settings({k: v for k, v in values.items() if k in SETTINGS}, confdir, prefix="attnviz_",
                              host="sphinx", config_file="conf.py", published=published)
    except AttnvizError as exc:
        raise ConfigError(f"attnviz: {exc}") from None


def config_values(config: Any) -> dict[str, Any]:
    """The ``attnviz_*`` values of a Sphinx config that are site-wide settings, without the prefix (``language``:
    the project's ``language`` unless ``attnviz_language`` says otherwise)."""
    values = {name: getattr(config, f"attnviz_{name}") for name in SETTINGS}
    return with_site_language(values, getattr(config, "language", None))


def _settings(app: Sphinx) -> Settings:
    return settings_from_config(config_values(app.config), app.confdir, app.srcdir, published=published_folders(app))


def published_folders(app: Sphinx) -> dict[str, str]:
    """The folders a Sphinx build publishes, which may not hold the cache: the output folder, and every folder of
    ``html_static_path`` and ``html_extra_path`` (copied into it whole). The source folder is not one: Sphinx reads
    documents from it and copies only what they name (the default cache, beside ``conf.py``, is there)."""
    out = {"outdir": str(app.outdir)}
    for name in ("html_static_path", "html_extra_path"):
        for index, folder in enumerate(getattr(app.config, name, None) or []):
            out[f"{name}[{index}]" if index else name] = os.path.join(str(app.confdir), str(folder))
    return out


_BUILDERS: dict[int, FigureBuilder] = {}  # id(app.config) -> its builder (set when the config is read)


def builder_for(config: Any) -> FigureBuilder:
    """The :class:`FigureBuilder` of the Sphinx project whose config this is (one per process: forked
    readers and writers inherit it)."""
    try:
        return _BUILDERS[id(config)]
    except KeyError:
        raise ExtensionError("attnviz: the extension was not set up for this project (config-inited did not "
                             "run)") from None


# ------------------------------------------------------------------------------------ collecting mode

#: internal config value: the directive records its blocks on the environment instead of building them
COLLECT_ONLY = "attnviz_collect_only"


@dataclasses.dataclass(frozen=True)
class CollectedBlock:
    """One block seen while ``attnviz_collect_only`` is on: its spec, or the error that stops it (kept as
    message and option: an exception loses its fields when a parallel reader pickles the environment)."""

    file: str
    line: int
    spec: FigureSpec | None = None
    message: str | None = None
    option: str | None = None

    def error(self) -> AttnvizError:
        return AttnvizError(self.message or "", option=self.option)


def collected(env: Any) -> list[CollectedBlock]:
    """Every block recorded on the build environment ``env`` while ``attnviz_collect_only`` was on."""
    return [block for _, blocks in sorted(getattr(env, "attnviz_collected", {}).items()) for block in blocks]


def _collect(env: Any, line: int, **what: Any) -> list[nodes.Node]:
    docname = env.docname
    env.attnviz_collected.setdefault(docname, []).append(
        CollectedBlock(file=str(env.doc2path(docname)), line=line, **what))
    return []


# ------------------------------------------------------------------------------------------- nodes

class attnviz_figure(nodes.General, nodes.Element):  # noqa: N801 (docutils naming)
    """A figure. Its children are the static fallback (an ordinary figure with the PNG and a caption);
    HTML builders replace it with the interactive embed when the doctree is resolved."""


class attnviz_error(nodes.General, nodes.Element):  # noqa: N801
    """A block that could not be built. Children: a paragraph; HTML builders show the error box."""


def _visit_pass(self: Any, node: nodes.Node) -> None:  # children are rendered as they are
    pass


def _depart_pass(self: Any, node: nodes.Node) -> None:
    pass


class _AnyOption(dict):
    """An ``option_spec`` that accepts every option and hands it, as written, to :func:`build_spec`, so a
    misspelt option gets the same message (and warning type) as in MkDocs instead of docutils' own."""

    def __missing__(self, key: str):
        return directives.unchanged


def _subtype(error: AttnvizError, stage: str) -> str:
    if stage == "spec":
        return "option"
    if error.kind:
        return error.kind
    if error.option in ("model", "revision", "device"):
        return "model"
    if error.option in OPTIONS:
        return "option"
    return "render"


class AttnvizDirective(SphinxDirective):
    """``.. attnviz:: MODEL`` with the sentence as content and the fence's options."""

    has_content = True
    required_arguments = 0
    optional_arguments = 1
    final_argument_whitespace = False
    option_spec = _AnyOption({name: directives.unchanged for name in OPTIONS if name != "model"})

    def run(self) -> list[nodes.Node]:
        docname = self.env.docname
        options = {str(k): ("" if v is None else str(v)) for k, v in self.options.items()}
        try:
            if self.arguments:
                if "model" in options:
                    raise AttnvizError("option given twice (as the directive's argument and as :model:)",
                                       option="model")
                options["model"] = self.arguments[0]
            builder = builder_for(self.config)
            spec = build_spec(options, "\n".join(self.content), defaults=builder.settings.defaults)
        except AttnvizError as exc:
            return self._failed(exc, "spec")
        if self.config[COLLECT_ONLY]:
            return _collect(self.env, self.lineno, spec=spec)
        try:
            figure = builder.build(spec)
            files = self._write_files(builder, figure)
        except AttnvizError as exc:
            return self._failed(exc, "build")
        except Exception as exc:  # a bug of ours or of a library: still a located warning
            return self._failed(AttnvizError(f"unexpected {type(exc).__name__}: {exc}"), "build")
        for warning in figure.warnings:
            logger.warning("attnviz: %s", warning, location=(docname, self.lineno), type="attnviz",
                           subtype=warning.option or "render")
        self.env.attnviz_figures.setdefault(docname, {})[figure.key] = list(figure.files)
        node = attnviz_figure("", key=figure.key, height=figure.height, description=figure.description,
                              alt=figure.alt, files=list(figure.files), spec=dataclasses.asdict(spec))
        self.set_source_info(node)
        caption = _caption_text(spec, figure.description)
        if ".png" in files:
            uri = os.path.relpath(files[".png"], os.path.dirname(self.env.doc2path(docname))).replace(os.sep, "/")
            fig = nodes.figure("", nodes.image(uri=uri, alt=figure.alt), nodes.caption("", caption))
            fig["classes"].append("attnviz")
            if spec.id:
                fig["ids"].append(nodes.make_id(spec.id))
            self.set_source_info(fig)
            node += fig
        else:  # no PNG (attnviz_fallback_png = False): non-HTML builders say what is missing
            node += nodes.paragraph("", f"[Interactive attention figure: {caption}]")
        return [node]

    def _write_files(self, builder: FigureBuilder, figure: Figure) -> dict[str, str]:
        """Copy the figure's files from the cache into the doctree folder (for the writers and the image
        collector: they exist even when the cache is off or kept in memory by another process)."""
        folder = Path(self.env.doctreedir) / _FIGURES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for suffix in figure.files:
            data = builder.cache.read_render_file(figure.key, suffix)
            if data is None:
                raise AttnvizError(f"cache entry for figure {figure.key}{suffix} disappeared during the build")
            written[suffix] = str(write_if_changed(folder / figure.filename(suffix), data))
        return written

    def _failed(self, error: AttnvizError, stage: str) -> list[nodes.Node]:
        docname, line = self.env.docname, self.lineno
        if self.config[COLLECT_ONLY]:
            return _collect(self.env, line, message=error.message, option=error.option)
        on_error = getattr(self.env.config, "attnviz_on_error", "warn")
        if stage == "spec":  # the summary counts every failed block
            builder_for(self.config).rejected()
        if on_error == "fail":
            raise ExtensionError(f"attnviz: {self.env.doc2path(docname)}:{line}: {error}")
        logger.warning("attnviz: %s", error, location=(docname, line), type="attnviz",
                       subtype=_subtype(error, stage))
        self.env.attnviz_figures.setdefault(docname, {})
        node = attnviz_error("", message=str(error))
        node += nodes.paragraph("", f"attnviz: this figure could not be built: {error}")
        self.set_source_info(node)
        return [node]


class _UnreadableOptions(SphinxTransform):
    """docutils reads a directive's field list before the directive runs: a field it cannot read (``:a b: 1``) is
    its own error (reported, with the line), and the block would vanish from the page. This puts the error box where
    the block was (before Sphinx drops the system messages)."""

    default_priority = 500

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(nodes.system_message)):
            text = node.children[0].astext() if node.children else ""
            if not text.startswith('Error in "attnviz" directive:'):
                continue
            reason = " ".join(text.split("\n", 1)[-1].split())
            error = AttnvizError(f"the block's options could not be read: {reason}")
            self.env.attnviz_figures.setdefault(self.env.docname, {})
            builder_for(self.config).rejected()
            box = attnviz_error("", message=str(error))
            box += nodes.paragraph("", f"attnviz: this figure could not be built: {error}")
            box.source, box.line = node.source, node.get("line")
            node.replace_self(box)


def _caption_text(spec: FigureSpec, description: str) -> str:
    if spec.caption:
        return f"{spec.caption} ({description})"
    return description[:1].upper() + description[1:]


# ----------------------------------------------------------------------------------------- builders

def _embeds_iframe(builder: Any) -> bool:
    """HTML builders that get the interactive figure; singlehtml and epub get the PNG figure."""
    try:
        from sphinx.builders.html import StandaloneHTMLBuilder
        from sphinx.builders.singlehtml import SingleFileHTMLBuilder
        from sphinx.builders._epub_base import EpubBuilder
    except ImportError:  # pragma: no cover
        return builder.name in ("html", "dirhtml")
    return (isinstance(builder, StandaloneHTMLBuilder)
            and not isinstance(builder, (SingleFileHTMLBuilder, EpubBuilder)))


def _builder_inited(app: Sphinx) -> None:
    # the core's warnings go to Sphinx's logging (so -W counts them) from now until build-finished
    app.attnviz_log_handler = logs.attach(pylogging.getLogger("sphinx.mkdocs_attnviz"))
    _init_env(app)


def _init_env(app: Sphinx, env: Any = None, *args: Any) -> None:
    env = env if env is not None else app.env
    if not hasattr(env, "attnviz_figures"):
        env.attnviz_figures = {}  # docname -> {figure key: [suffixes]}
    if not hasattr(env, "attnviz_collected"):
        env.attnviz_collected = {}  # docname -> [CollectedBlock] (attnviz_collect_only)


def _config_inited(app: Sphinx, config: Any) -> None:
    settings = _settings(app)  # raises ConfigError early for a bad value
    known = [f"attnviz_{name}" for name in CONFIG]
    for name in sorted(getattr(config, "_raw_config", {})):  # what conf.py set: a misspelt attnviz_ name
        if name.startswith("attnviz_") and name not in known and name != COLLECT_ONLY:
            logger.warning(f"attnviz: conf.py: unknown setting {name!r}{did_you_mean(name, known)}", type="attnviz",
                           subtype="config")
    known = _BUILDERS.get(id(config))
    if known is None or known.settings != settings:
        _BUILDERS[id(config)] = FigureBuilder(settings)
        _BUILDERS[id(config)].previewing.from_environment()  # ATTNVIZ_PREVIEWS=on: sphinx-autobuild's edits


def _purge_doc(app: Sphinx, env: Any, docname: str) -> None:
    _init_env(app, env)
    env.attnviz_figures.pop(docname, None)
    env.attnviz_collected.pop(docname, None)


def _merge_info(app: Sphinx, env: Any, docnames: Iterable[str], other: Any) -> None:
    _init_env(app, env)
    for name in ("attnviz_figures", "attnviz_collected"):
        ours, theirs = getattr(env, name), getattr(other, name, {})
        for docname in docnames:
            if docname in theirs:
                ours[docname] = theirs[docname]


def _doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    iframe = _embeds_iframe(app.builder)
    html = app.builder.format == "html"
    figures = list(doctree.findall(attnviz_figure))
    errors = list(doctree.findall(attnviz_error))
    if not figures and not errors:
        return
    builder = builder_for(app.config) if (iframe or (html and errors)) else None
    for node in figures:
        if iframe:
            prefix = relative_uri(app.builder.get_target_uri(docname), app.config.attnviz_assets_dir.strip("/") + "/")
            spec = FigureSpec(**node["spec"])
            figure = Figure(key=node["key"], spec=spec, height=node["height"], description=node["description"],
                            alt=node["alt"], files=tuple(node["files"]), cached=True, warnings=[])
            node.replace_self(nodes.raw("", builder.embed_html(figure, prefix), format="html"))
        else:
            node.replace_self(node.children)
    for node in errors:
        if html:
            node.replace_self(nodes.raw("", builder.error_html(AttnvizError(node["message"])), format="html"))
        else:
            node.replace_self(node.children)


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    # the stylesheet only on pages that hold a figure (or an error box); first, so the theme's CSS wins
    if pagename in getattr(app.env, "attnviz_figures", {}) and _embeds_iframe(app.builder):
        app.add_css_file(ASSETS_CSS, priority=200)


def _forget_unused(folder: Path, figures: Mapping[str, Any]) -> None:
    """Delete the figure files in ``folder`` of figures no document uses any more."""
    if folder.is_dir():
        for path in folder.iterdir():
            m = _KEY_FILE.match(path.name)
            if m and m.group("key") not in figures:
                path.unlink()


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    try:
        if exception is None:
            _publish(app)
    finally:
        handler = getattr(app, "attnviz_log_handler", None)
        if handler is not None:
            logs.detach(handler)


def _publish(app: Sphinx) -> None:
    env = app.env
    figures: dict[str, list[str]] = {}
    for per_doc in getattr(env, "attnviz_figures", {}).values():
        figures.update(per_doc)
    source = Path(app.doctreedir) / _FIGURES_DIR
    _forget_unused(source, figures)  # a removed or changed document
    if not _embeds_iframe(app.builder):
        return
    out = Path(app.outdir) / app.config.attnviz_assets_dir.strip("/")
    _forget_unused(out, figures)  # figures of removed documents leave the site too
    builder = builder_for(app.config)
    if not figures:
        if builder.stats["errors"]:  # a site whose every block failed still says so
            logger.info(builder.summary())
        return
    # BokehJS (resources = local), the stylesheet and the shared scripts, once; the words of every language (the
    # documents' figures were rendered in other processes, their languages are not known here)
    builder.publish(out, keys=[], languages=LANGUAGES)
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    write_if_changed(static / ASSETS_CSS, (out / ASSETS_CSS).read_bytes())
    for key, suffixes in sorted(figures.items()):
        for suffix in suffixes:
            src = source / file_name(key, suffix)
            try:
                data = src.read_bytes()
            except FileNotFoundError:
                data = builder.cache.read_render_file(key, suffix)
                if data is None:
                    raise ExtensionError(f"attnviz: figure file {key}{suffix} is missing; build again with -E")
            write_if_changed(out / file_name(key, suffix), data)
    logger.info(builder.summary())
    builder.previewing.export_missing(builder.models, builder.models_used())


def setup(app: Sphinx) -> dict[str, Any]:
    for name, (default, rebuild, _) in CONFIG.items():
        types = (str, type(None)) if default is None else (type(default),)
        app.add_config_value(f"attnviz_{name}", default, rebuild, types=types)
    app.add_config_value(COLLECT_ONLY, False, "env", types=(bool,))  # internal: the attnviz command sets it
    app.add_node(attnviz_figure, **{fmt: (_visit_pass, _depart_pass)
                                    for fmt in ("html", "latex", "text", "man", "texinfo")})
    app.add_node(attnviz_error, **{fmt: (_visit_pass, _depart_pass)
                                   for fmt in ("html", "latex", "text", "man", "texinfo")})
    app.add_directive("attnviz", AttnvizDirective)
    app.add_transform(_UnreadableOptions)
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _builder_inited)
    app.connect("env-before-read-docs", _init_env)
    app.connect("env-purge-doc", _purge_doc)
    app.connect("env-merge-info", _merge_info)
    app.connect("doctree-resolved", _doctree_resolved)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _build_finished)
    return {"version": __version__, "env_version": ENV_VERSION, "parallel_read_safe": True,
            "parallel_write_safe": True}
