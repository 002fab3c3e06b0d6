"""Finding the blocks of a PATH: a ``mkdocs.yml``, a ``zensical.toml``, a Sphinx source folder, or a report SPEC.

Every loader gives a :class:`Project`: its kind, its :class:`~mkdocs_attnviz.settings.Settings` (made by
:func:`~mkdocs_attnviz.settings.build_settings` from what the project says, with the command line's flags on top,
see :mod:`.overrides`) and its :class:`Block` list, each a valid spec or the error that stops it, with its file
and line. Every block goes through the same option parser as the MkDocs plugin and the Sphinx directive.

* ``mkdocs.yml`` (or its folder): MkDocs reads the config (``!ENV`` and all); the ``attnviz`` plugin's config
  values are the settings (relative folders from the folder of ``mkdocs.yml``); every Markdown page of
  ``docs_dir`` is scanned for fences. No plugin hook runs.
* ``zensical.toml`` (or its folder): the keys of its ``[project.markdown_extensions.attnviz]`` table are the settings,
  resolved as the extension resolves them under Zensical (:func:`~mkdocs_attnviz.zensical.zensical_settings`);
  every Markdown page of ``docs_dir`` is scanned for fences.
* a Sphinx source folder (or its ``conf.py``): Sphinx reads the project (reST, MyST...) with a ``dummy``
  builder in a temporary folder and ``attnviz_collect_only`` on, so the directive records its blocks on the
  build environment instead of building them.
* a report SPEC: a Markdown file with ``attnviz`` blocks (YAML front matter: ``title`` and settings keys) or a
  YAML list of figures (or a mapping of ``title``, settings keys and a ``figures`` list).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..errors import AttnvizError
from ..locations import relative_page_name
from ..settings import SETTINGS, Settings, build_settings, with_site_language
from ..spec import FigureSpec, build_spec, parse_header
from .common import UsageError, display
from .overrides import with_flags

__all__ = ["Block", "Project", "load_project"]


@dataclasses.dataclass
class Block:
    """One block found in a project: a valid spec, or the error that stops it, with where it is."""

    file: str
    line: int
    spec: FigureSpec | None = None
    error: AttnvizError | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # YAML report: heading, notes

    def located(self, error: AttnvizError) -> AttnvizError:
        return error.located(self.file, self.line)


@dataclasses.dataclass
class Project:
    """What a PATH describes: its kind, its settings and its blocks."""

    kind: str  # mkdocs | zensical | sphinx | markdown | yaml
    path: Path
    settings: Settings
    blocks: list[Block]
    title: str | None = None
    prose: str | None = None  # markdown report: the text, front matter removed
    prose_offset: int = 0  # lines of front matter before the prose


def load_project(path: str | os.PathLike, args: argparse.Namespace | None = None, *,
                 resources: str = "local") -> Project:
    """Find the blocks of a ``mkdocs.yml``, a ``zensical.toml``, a Sphinx folder or a report SPEC (see the module docs).

    ``resources`` is the BokehJS mode of a report (``local`` for a folder, ``inline`` for one file)."""
    args = args or argparse.Namespace()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{display(p)}: no such file or folder")
    if p.is_dir():
        if (p / "conf.py").is_file():
            return _load_sphinx(p.resolve(), args)
        for name in ("mkdocs.yml", "mkdocs.yaml"):
            if (p / name).is_file():
                return _load_mkdocs((p / name).resolve(), args)
        if (p / "zensical.toml").is_file():
            return _load_zensical((p / "zensical.toml").resolve(), args)
        raise UsageError(f"{display(p)}: a folder must hold a Sphinx conf.py, a mkdocs.yml or a zensical.toml")
    if p.name == "conf.py":
        return _load_sphinx(p.resolve().parent, args)
    if p.suffix.lower() == ".toml":
        return _load_zensical(p.resolve(), args)
    if p.suffix.lower() in (".yml", ".yaml"):
        if p.name.lower() in ("mkdocs.yml", "mkdocs.yaml") or re.search(
                r"^site_name\s*:", p.read_text(encoding="utf-8", errors="replace"), re.M):
            return _load_mkdocs(p.resolve(), args)
        return _load_yaml_spec(p.resolve(), args, resources)
    if p.suffix.lower() in (".md", ".markdown"):
        return _load_markdown_spec(p.resolve(), args, resources)
    raise UsageError(f"{display(p)}: expected a mkdocs.yml, a zensical.toml, a Sphinx folder, a Markdown or a "
                     "YAML SPEC")


def _blocks_from_markdown(text: str, file: str, defaults: Mapping[str, Any], offset: int = 0) -> list[Block]:
    from ..fence import scan

    blocks = []
    for found in scan(text.splitlines()):
        block = Block(file=file, line=found.line + offset)
        try:
            block.spec = build_spec(parse_header(found.header), found.body, defaults=defaults)
        except AttnvizError as exc:
            block.error = block.located(exc)
        blocks.append(block)
    return blocks


# ------------------------------------------------------------------------------------------- MkDocs

def _load_mkdocs(path: Path, args: argparse.Namespace) -> Project:
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        cfg = load_config(str(path))
    except ConfigurationError as exc:
        raise UsageError(f"{display(path)}: {exc}") from None
    plugin = cfg.plugins.get("attnviz")
    if plugin is None:
        raise UsageError(f"{display(path)} does not use the attnviz plugin (plugins: [attnviz])")
    if not plugin.config.enabled:
        raise UsageError(f"{display(path)}: the attnviz plugin is disabled (enabled: false)")
    from ..plugin import site_language

    values = with_site_language({name: plugin.config[name] for name in SETTINGS}, site_language(cfg))
    try:  # what `mkdocs build` resolves too: the plugin's on_config calls the same builder
        settings = build_settings(with_flags(values, args), path.parent, docs_dir=cfg.docs_dir, host="mkdocs",
                                  config_file=path.name, published={"site_dir": cfg.site_dir})
    except AttnvizError as exc:
        raise UsageError(f"{display(path)}: invalid attnviz plugin config: {exc}") from None
    return Project(kind="mkdocs", path=path, settings=settings, blocks=_blocks_of_pages(settings, path.parent),
                   title=cfg.site_name)


def _blocks_of_pages(settings: Settings, root: Path) -> list[Block]:
    """The blocks of every Markdown page of the docs folder, named relative to the project folder."""
    blocks = []
    for page in sorted(p for p in Path(settings.docs_dir or root).rglob("*")
                       if p.suffix.lower() in (".md", ".markdown") and p.is_file()):
        name = relative_page_name(page, root)
        blocks += _blocks_from_markdown(page.read_text(encoding="utf-8-sig"), name, settings.defaults)
    return blocks


# ----------------------------------------------------------------------------------------- Zensical

def _load_zensical(path: Path, args: argparse.Namespace) -> Project:
    """A ``zensical.toml``: the keys of its ``[project.markdown_extensions.attnviz]`` table are the settings, taken
    as the extension takes them under Zensical (the same cache folder, ``ATTNVIZ_CACHE_ONLY``)."""
    from ..zensical import attnviz_table, theme_language, zensical_settings

    try:
        import tomllib
    except ImportError:  # Python 3.10: Zensical's own dependency
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{display(path)}: {exc}") from None
    project = config.get("project", config)
    table = attnviz_table(project)
    if table is None:
        raise UsageError(f"{display(path)} does not use the attnviz extension ([project.markdown_extensions.attnviz])")
    if table.pop("enabled", True) is False:
        raise UsageError(f"{display(path)}: the attnviz extension is disabled (enabled = false)")
    docs_dir = path.parent / str(project.get("docs_dir") or "docs")
    try:
        settings = zensical_settings(with_flags(table, args), path.parent, docs_dir, theme_language(project),
                                     config_file=path.name,
                                     site_dir=path.parent / str(project.get("site_dir") or "site"))
    except AttnvizError as exc:
        raise UsageError(f"{display(path)}: {exc}") from None
    return Project(kind="zensical", path=path, settings=settings, blocks=_blocks_of_pages(settings, path.parent),
                   title=project.get("site_name"))


# ------------------------------------------------------------------------------------------- Sphinx

def _load_sphinx(folder: Path, args: argparse.Namespace) -> Project:
    """Read the Sphinx project with Sphinx itself (a ``dummy`` build in a temporary folder) while the directive
    only records what it sees: the same parsers (reST, MyST) and option handling as a real build."""
    try:
        from sphinx.application import Sphinx
        from sphinx.errors import SphinxError
        from sphinx.util.docutils import docutils_namespace, patch_docutils
    except ImportError:
        raise UsageError("reading a Sphinx project needs Sphinx: pip install 'mkdocs-attnviz[sphinx]'") from None
    from .. import sphinx as ext

    warnings = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="attnviz-sphinx-") as tmp:
        try:
            with patch_docutils(folder), docutils_namespace():
                app = Sphinx(str(folder), str(folder), os.path.join(tmp, "out"), os.path.join(tmp, "doctrees"),
                             "dummy", confoverrides={"attnviz_collect_only": True}, status=None, warning=warnings,
                             freshenv=True)
                if "mkdocs_attnviz.sphinx" not in app.extensions:
                    raise UsageError(f"{display(folder / 'conf.py')} does not load the attnviz extension "
                                     "(extensions = ['mkdocs_attnviz.sphinx'])")
                app.build(force_all=True)
        except SphinxError as exc:
            raise UsageError(f"{display(folder)}: Sphinx could not read the project: {exc}") from None
    try:
        settings = build_settings(with_flags(ext.config_values(app.config), args), app.confdir, prefix="attnviz_",
                                  host="sphinx", config_file="conf.py")
    except AttnvizError as exc:
        raise UsageError(f"{display(folder / 'conf.py')}: {exc}") from None
    blocks = []
    for record in ext.collected(app.env):
        file = display(record.file)
        blocks.append(Block(file=file, line=record.line, spec=record.spec,
                            error=record.error().located(file, record.line) if record.spec is None else None))
    blocks.sort(key=lambda b: (b.file, b.line))
    return Project(kind="sphinx", path=folder, settings=settings, blocks=blocks)


# ------------------------------------------------------------------------------------- report SPECs

def _spec_settings(meta: Mapping[str, Any], folder: Path, args: argparse.Namespace, resources: str) -> Settings:
    """The settings of a report SPEC: its keys of SETTINGS (``title`` and ``figures`` aside), relative folders
    from the SPEC's folder; the report itself decides ``resources``."""
    values = {k: v for k, v in meta.items() if k not in ("title", "figures", "lang")}
    if "lang" in meta:  # the usual front-matter key for a document's language
        values = with_site_language(values, meta["lang"]) if "language" not in values else values
    if "resources" in values:
        raise AttnvizError("setting 'resources': a report chooses it (local for a folder, inline with "
                           "--single-file)")
    return build_settings(with_flags({**values, "resources": resources}, args), folder, host="spec")


def _front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """``(meta, rest, lines)`` for a Markdown SPEC that may start with ``---`` YAML front matter."""
    import yaml

    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text, 0
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("".join(lines[1:i])) or {}
            except yaml.YAMLError as exc:
                raise AttnvizError(f"front matter is not valid YAML: {exc}") from None
            if not isinstance(meta, dict):
                raise AttnvizError("front matter must be a YAML mapping")
            return meta, "".join(lines[i + 1:]), i + 1
    return {}, text, 0


def _load_markdown_spec(path: Path, args: argparse.Namespace, resources: str) -> Project:
    file = display(path)
    text = path.read_text(encoding="utf-8")
    try:
        meta, prose, offset = _front_matter(text)
        settings = _spec_settings(meta, path.parent, args, resources)
    except AttnvizError as exc:
        raise UsageError(f"{file}: {exc}") from None
    blocks = _blocks_from_markdown(prose, file, settings.defaults, offset)
    title = meta.get("title")
    if not title:
        m = re.search(r"^#\s+(.+?)\s*#*\s*$", prose, re.M)
        title = m.group(1) if m else path.stem
    return Project(kind="markdown", path=path, settings=settings, blocks=blocks, title=str(title), prose=prose,
                   prose_offset=offset)


class _Located(dict):
    """A YAML mapping that knows its line (for messages)."""

    def __init__(self, value: dict, line: int) -> None:
        super().__init__(value)
        self.line = line


def _load_yaml_lines(text: str) -> Any:
    """``yaml.safe_load`` whose mappings are :class:`_Located`."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Located:
        return _Located(yaml.SafeLoader.construct_mapping(loader, node, deep=True), node.start_mark.line + 1)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load_yaml_spec(path: Path, args: argparse.Namespace, resources: str) -> Project:
    import yaml

    file = display(path)
    try:
        data = _load_yaml_lines(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: not valid YAML: {exc}") from None
    if isinstance(data, list):
        meta, figures = {}, data
    elif isinstance(data, dict) and isinstance(data.get("figures"), list):
        meta, figures = _plain({k: v for k, v in data.items() if k != "figures"}), data["figures"]
    else:
        raise UsageError(f"{file}: a YAML SPEC is a list of figures, or a mapping with a 'figures' list")
    try:
        settings = _spec_settings(meta, path.parent, args, resources)
    except AttnvizError as exc:
        raise UsageError(f"{file}: {exc}") from None
    blocks = []
    for item in figures:
        block = Block(file=file, line=getattr(item, "line", 0))
        blocks.append(block)
        if not isinstance(item, dict):
            block.error = block.located(AttnvizError("a figure is a mapping of options with a 'text'"))
            continue
        options = {str(k): v for k, v in _plain(item).items()}
        block.extra = {"heading": options.pop("heading", None), "notes": options.pop("notes", None)}
        text = options.pop("text", None)
        try:
            bad = [k for k, v in options.items() if isinstance(v, (dict, list)) or v is None]
            if bad:
                raise AttnvizError("expected a single value", option=bad[0])
            block.spec = build_spec({k: str(v) for k, v in options.items()}, "" if text is None else str(text),
                                    defaults=settings.defaults)
        except AttnvizError as exc:
            block.error = block.located(exc)
    return Project(kind="yaml", path=path, settings=settings, blocks=blocks, title=meta.get("title"))
