"""The ``attnviz`` command: static reports, cache warming, single figures and cache housekeeping.

::

    attnviz report SPEC -o DIR [--single-file]     # a report site (or one mailable HTML file)
    attnviz warm PATH [--device cuda]              # fill the cache for every block of a site
    attnviz render --model M --text T -o FILE      # one figure: .html, .png (or .svg)
    attnviz cache ls [PATH]                        # what the cache holds (and what PATH uses)
    attnviz cache prune PATH... [--dry-run]        # delete what PATH does not use

``PATH`` is a ``mkdocs.yml``, a Sphinx source folder (with ``conf.py`` loading
``mkdocs_attnviz.sphinx``), or a report ``SPEC``: a Markdown file with ``attnviz`` blocks (its prose is
kept) or a YAML list of figures. Every block goes through the same option parser, pipeline and cache as
the MkDocs plugin and the Sphinx directive: a cache warmed here is what ``cache_only`` builds read.

Exit status: 0 ok, 1 a figure failed (its file and line are on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html as html_lib
import io
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import __version__, logs
from .errors import AttnvizError

__all__ = ["main", "Project", "Block", "load_project", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CACHE = ".cache/plugin/attnviz"
_KEY_RE = re.compile(r"^[0-9a-f]{32}$")



class UsageError(Exception):
    """Bad command line or unusable PATH: exit status 2."""


@dataclasses.dataclass
class Block:
    """One block found in a project: a valid spec, or the error that stops it, with where it is."""

    file: str
    line: int
    spec: Any = None  # FigureSpec
    error: AttnvizError | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # YAML report: heading, notes

    def located(self, error: AttnvizError) -> AttnvizError:
        return error.located(self.file, self.line)


@dataclasses.dataclass
class Project:
    """What a PATH describes: its kind, its settings and its blocks."""

    kind: str  # mkdocs | sphinx | markdown | yaml
    path: Path
    settings: Any  # settings.Settings
    blocks: list[Block]
    title: str | None = None
    prose: str | None = None  # markdown report: the text, front matter removed
    prose_offset: int = 0  # lines of front matter before the prose


# ------------------------------------------------------------------------------------------- loading

def _display(path: str | os.PathLike) -> str:
    """A path for messages: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
        return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _parse_models(pairs: Sequence[str]) -> dict[str, str]:
    models = {}
    for pair in pairs or ():
        name, sep, folder = pair.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise UsageError(f"--model-path expects NAME=FOLDER, got {pair!r}")
        models[name.strip()] = os.path.abspath(os.path.expanduser(folder.strip()))
    return models


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


def _report_settings(meta: dict[str, Any], folder: Path, args: argparse.Namespace, *, resources: str = "local"):
    from .settings import Settings
    from .spec import build_spec

    unknown = set(meta) - {"title", "cache_dir", "models", "defaults", "font", "figures"}
    if unknown:
        raise AttnvizError(f"unknown key(s) {', '.join(sorted(unknown))} (known: title, cache_dir, models, "
                           "defaults, font, figures)")
    cache_dir = getattr(args, "cache_dir", None) or os.path.join(folder, str(meta.get("cache_dir", DEFAULT_CACHE)))
    models = {str(k): os.path.normpath(os.path.join(folder, os.path.expanduser(str(v))))
              for k, v in (meta.get("models") or {}).items()}
    models.update(_parse_models(getattr(args, "model_path", None)))
    defaults = {str(k): str(v) for k, v in (meta.get("defaults") or {}).items()}
    if defaults:
        build_spec({}, "check", defaults={"model": "check", **defaults})
    return Settings(cache_dir=os.path.abspath(cache_dir), models=models, defaults=defaults, resources=resources,
                    device=getattr(args, "device", None) or "auto", base_dir=str(folder), allowed_root=str(folder),
                    font=meta.get("font"), cache_only=bool(getattr(args, "cache_only", False)))


def _blocks_from_markdown(text: str, file: str, defaults: dict[str, Any], offset: int = 0) -> list[Block]:
    from .fence import scan
    from .spec import build_spec, parse_header

    blocks = []
    for found in scan(text.splitlines()):
        block = Block(file=file, line=found.line + offset)
        try:
            block.spec = build_spec(parse_header(found.header), found.body, defaults=defaults)
        except AttnvizError as exc:
            block.error = block.located(exc)
        blocks.append(block)
    return blocks


class _LineLoader:
    """A YAML SafeLoader that remembers the line of every mapping (for messages)."""

    @staticmethod
    def load(text: str):
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def mapping(loader, node):
            value = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
            return _Located(value, node.start_mark.line + 1)

        Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
        return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)


class _Located(dict):
    def __init__(self, value: dict, line: int) -> None:
        super().__init__(value)
        self.line = line


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load_yaml_spec(path: Path, args: argparse.Namespace, resources: str) -> Project:
    import yaml

    file = _display(path)
    try:
        data = _LineLoader.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: not valid YAML: {exc}") from None
    if isinstance(data, list):
        meta, figures = {}, data
    elif isinstance(data, dict) and isinstance(data.get("figures"), list):
        meta, figures = _plain({k: v for k, v in data.items() if k != "figures"}), data["figures"]
    else:
        raise UsageError(f"{file}: a YAML SPEC is a list of figures, or a mapping with a 'figures' list")
    try:
        settings = _report_settings(meta, path.parent, args, resources=resources)
    except AttnvizError as exc:
        raise UsageError(f"{file}: {exc}") from None
    from .spec import build_spec

    blocks = []
    for item in figures:
        line = getattr(item, "line", 0)
        block = Block(file=file, line=line)
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


def _load_markdown_spec(path: Path, args: argparse.Namespace, resources: str) -> Project:
    file = _display(path)
    text = path.read_text(encoding="utf-8")
    try:
        meta, prose, offset = _front_matter(text)
        settings = _report_settings(meta, path.parent, args, resources=resources)
    except AttnvizError as exc:
        raise UsageError(f"{file}: {exc}") from None
    blocks = _blocks_from_markdown(prose, file, settings.defaults, offset)
    title = meta.get("title")
    if not title:
        m = re.search(r"^#\s+(.+?)\s*#*\s*$", prose, re.M)
        title = m.group(1) if m else path.stem
    return Project(kind="markdown", path=path, settings=settings, blocks=blocks, title=str(title), prose=prose,
                   prose_offset=offset)


def _load_mkdocs(path: Path, args: argparse.Namespace) -> Project:
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        cfg = load_config(str(path))
    except ConfigurationError as exc:
        raise UsageError(f"{_display(path)}: {exc}") from None
    plugin = cfg.plugins.get("attnviz")
    if plugin is None:
        raise UsageError(f"{_display(path)} does not use the attnviz plugin (plugins: [attnviz])")
    plugin.on_config(cfg)  # the plugin's own settings, exactly as `mkdocs build` resolves them
    settings = plugin._settings
    plugin.on_shutdown()
    if settings is None:
        raise UsageError(f"{_display(path)}: the attnviz plugin is disabled (enabled: false)")
    settings = _override(settings, args)
    root = path.parent
    blocks = []
    docs = Path(cfg.docs_dir)
    for page in sorted(p for p in docs.rglob("*") if p.suffix.lower() in (".md", ".markdown") and p.is_file()):
        name = Path(os.path.relpath(page, root)).as_posix()
        blocks += _blocks_from_markdown(page.read_text(encoding="utf-8-sig"), name, settings.defaults)
    return Project(kind="mkdocs", path=path, settings=settings, blocks=blocks, title=cfg.site_name)


def _load_sphinx(folder: Path, args: argparse.Namespace) -> Project:
    """Read the Sphinx project with Sphinx itself (a ``dummy`` build in a temporary folder) while the
    directive only records what it sees: the same parsers (reST, MyST) and option handling as a real build."""
    try:
        from sphinx.application import Sphinx
        from sphinx.util.docutils import docutils_namespace, patch_docutils
    except ImportError:
        raise UsageError("reading a Sphinx project needs Sphinx: pip install 'mkdocs-attnviz[sphinx]'") from None
    from . import sphinx as ext

    overrides: dict[str, Any] = {"attnviz_collect_only": True}  # the directive records its blocks, builds nothing
    if getattr(args, "device", None):
        overrides["attnviz_device"] = args.device
    if getattr(args, "cache_dir", None):
        overrides["attnviz_cache_dir"] = os.path.abspath(args.cache_dir)
    warnings = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="attnviz-sphinx-") as tmp:
        try:
            with patch_docutils(folder), docutils_namespace():
                app = Sphinx(str(folder), str(folder), os.path.join(tmp, "out"), os.path.join(tmp, "doctrees"),
                             "dummy", confoverrides=overrides, status=None, warning=warnings, freshenv=True)
                if "mkdocs_attnviz.sphinx" not in app.extensions:
                    raise UsageError(f"{_display(folder / 'conf.py')} does not load the attnviz extension "
                                     "(extensions = ['mkdocs_attnviz.sphinx'])")
                app.build(force_all=True)
                settings = ext.builder_for(app.config).settings
        except UsageError:
            raise
        except Exception as exc:
            from sphinx.errors import SphinxError

            if isinstance(exc, SphinxError):
                raise UsageError(f"{_display(folder)}: Sphinx could not read the project: {exc}") from None
            raise
    blocks = []
    for record in ext.collected(app.env):
        file = _display(record.file)
        blocks.append(Block(file=file, line=record.line, spec=record.spec,
                            error=record.error().located(file, record.line) if record.spec is None else None))
    blocks.sort(key=lambda b: (b.file, b.line))
    return Project(kind="sphinx", path=folder, settings=_override(settings, args), blocks=blocks)


def _override(settings: Any, args: argparse.Namespace) -> Any:
    changes: dict[str, Any] = {}
    if getattr(args, "device", None):
        changes["device"] = args.device
    if getattr(args, "cache_dir", None):
        changes["cache_dir"] = os.path.abspath(args.cache_dir)
    if getattr(args, "model_path", None):
        changes["models"] = {**settings.models, **_parse_models(args.model_path)}
    return dataclasses.replace(settings, **changes) if changes else settings


def load_project(path: str | os.PathLike, args: argparse.Namespace | None = None, *,
                 resources: str = "local") -> Project:
    """Find the blocks of a ``mkdocs.yml``, a Sphinx folder or a report SPEC (see the module docs)."""
    args = args or argparse.Namespace()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{_display(p)}: no such file or folder")
    if p.is_dir():
        if (p / "conf.py").is_file():
            return _load_sphinx(p.resolve(), args)
        for name in ("mkdocs.yml", "mkdocs.yaml"):
            if (p / name).is_file():
                return _load_mkdocs((p / name).resolve(), args)
        raise UsageError(f"{_display(p)}: a folder must hold a Sphinx conf.py or a mkdocs.yml")
    if p.name == "conf.py":
        return _load_sphinx(p.resolve().parent, args)
    if p.suffix.lower() in (".yml", ".yaml"):
        if p.name.lower() in ("mkdocs.yml", "mkdocs.yaml") or re.search(
                r"^site_name\s*:", p.read_text(encoding="utf-8", errors="replace"), re.M):
            return _load_mkdocs(p.resolve(), args)
        return _load_yaml_spec(p.resolve(), args, resources)
    if p.suffix.lower() in (".md", ".markdown"):
        return _load_markdown_spec(p.resolve(), args, resources)
    raise UsageError(f"{_display(p)}: expected a mkdocs.yml, a Sphinx folder, a Markdown or a YAML SPEC")


# ---------------------------------------------------------------------------------------- reporting

def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _progress(items: Sequence[Any], desc: str, enabled: bool | None) -> Iterable[Any]:
    if enabled is False:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return items
    return tqdm(items, desc=desc, unit="figure", file=sys.stderr, disable=None if enabled is None else False,
                dynamic_ncols=True)


def _builder(settings: Any):
    from .pipeline import FigureBuilder

    return FigureBuilder(settings)


# --------------------------------------------------------------------------------------------- warm

def cmd_warm(args: argparse.Namespace) -> int:
    project = load_project(args.path, args)
    settings = dataclasses.replace(project.settings, cache_only=False)
    if not settings.cache or not settings.cache_dir:
        raise UsageError(f"{_display(project.path)}: the cache is turned off, so there is nothing to warm")
    builder = _builder(settings)
    failed = 0
    for block in _progress(project.blocks, "attnviz warm", args.progress):
        if block.error is not None:
            _err(f"attnviz: {block.error}")
            failed += 1
            continue
        try:
            builder.build(block.spec)
        except AttnvizError as exc:
            _err(f"attnviz: {block.located(exc)}")
            failed += 1
    if not project.blocks:
        _err(f"attnviz: no attnviz blocks found in {_display(project.path)}")
    _err(builder.summary() + f"; cache: {_display(settings.cache_dir)}")
    return EXIT_FAILED if failed else EXIT_OK


# ------------------------------------------------------------------------------------------- report

_EMBED_URL = re.compile(r'(?P<attr>src|href)="assets/(?P<key>[0-9a-f]{32})(?P<suffix>\.html|\.png)"')
_OPEN_LINK = re.compile(r'\s*·\s*<a href="assets/[0-9a-f]{32}\.html"[^>]*>[^<]*</a>')


def _inline(body: str, assets: Path) -> str:
    """Put every figure file into the page itself: iframes get ``srcdoc``, PNGs become data URIs."""
    body = _OPEN_LINK.sub("", body)  # a page inside srcdoc cannot be opened in a tab of its own

    def replace(m: re.Match) -> str:
        path = assets / f"{m.group('key')}{m.group('suffix')}"
        if m.group("suffix") == ".png":
            return f'{m.group("attr")}="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}"'
        page = path.read_text(encoding="utf-8")
        return f'srcdoc="{html_lib.escape(page, quote=True)}"'

    body = _EMBED_URL.sub(replace, body)
    if "assets/" in body and re.search(r'(src|href)="assets/', body):
        raise AttnvizError("the single-file report still links to a file in assets/")
    return body


def _yaml_body(project: Project, builder: Any, url: str) -> tuple[str, int]:
    import markdown

    parts, failed = [], 0
    for block in project.blocks:
        heading, notes = block.extra.get("heading"), block.extra.get("notes")
        if heading:
            parts.append(f"<h2>{html_lib.escape(str(heading))}</h2>")
        if notes:
            parts.append(markdown.markdown(str(notes), extensions=["tables"]))
        error = block.error
        if error is None:
            try:
                figure = builder.build(block.spec)
                for warning in figure.warnings:
                    _err(f"attnviz: {block.located(AttnvizError(warning, option='max_tokens'))}")
                parts.append(builder.embed_html(figure, url))
                continue
            except AttnvizError as exc:
                error = block.located(exc)
        _err(f"attnviz: {error}")
        failed += 1
        parts.append(builder.error_html(error))
    return "\n".join(parts), failed


def _markdown_body(project: Project, builder: Any, assets: Path, url: str) -> tuple[str, int]:
    import markdown

    from .fence import FENCE, AttnvizExtension

    ext = AttnvizExtension(builder=builder, output_dir=str(assets), url=url, page=_display(project.path))
    ext.line_offset = project.prose_offset
    md = markdown.Markdown(extensions=["pymdownx.superfences", "admonition", "tables", "attr_list", "toc", ext],
                           extension_configs={"pymdownx.superfences": {"custom_fences": [FENCE]}})
    body = md.convert(project.prose or "")
    return body, body.count('<div class="attnviz-error')


def cmd_report(args: argparse.Namespace) -> int:
    from markupsafe import Markup

    resources = "inline" if args.single_file else "local"
    spec_path = Path(args.spec)
    if spec_path.is_dir() or spec_path.suffix.lower() not in (".md", ".markdown", ".yml", ".yaml"):
        raise UsageError(f"{_display(spec_path)}: a report SPEC is a Markdown (.md) or a YAML (.yml) file")
    project = load_project(spec_path, args, resources=resources)
    if project.kind not in ("markdown", "yaml"):
        raise UsageError(f"{_display(spec_path)}: is a {project.kind} project, not a report SPEC")
    out = Path(args.output)
    if args.single_file and out.suffix.lower() in (".html", ".htm"):
        target, out_dir = out, out.parent
    else:
        target, out_dir = out / "index.html", out
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = _builder(project.settings)
    with tempfile.TemporaryDirectory(prefix="attnviz-report-") as tmp:
        assets = Path(tmp) if args.single_file else out_dir / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        if project.kind == "markdown":
            body, failed = _markdown_body(project, builder, assets, "assets/")
        else:
            body, failed = _yaml_body(project, builder, "assets/")
        builder.publish(assets)
        if args.single_file:
            body = _inline(body, assets)
        from .toolkit.page import asset_text

        css = asset_text("attnviz.css")
        title = args.title or project.title or project.path.stem
        page = builder.templates.get_template("report.html.jinja").render(
            title=title, heading=project.kind == "yaml",
            body=Markup(body), css=Markup(css.replace("</", "<\\/")), version=__version__,
            source=project.path.name)
        target.write_text(page, encoding="utf-8")
    if not args.single_file:
        (out_dir / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: publish the folder as is
    _err(builder.summary())
    _err(f"attnviz: report written to {_display(target)}")
    return EXIT_FAILED if failed else EXIT_OK


# ------------------------------------------------------------------------------------------- render

RENDER_OPTIONS = ("revision", "layer", "head", "pair", "caption", "height", "id", "max_tokens", "special_tokens",
                  "view")


def cmd_render(args: argparse.Namespace) -> int:
    from .settings import Settings
    from .spec import build_spec

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".png", ".svg"):
        raise UsageError(f"-o {args.output}: the file name must end in .html, .png or .svg")
    if suffix == ".svg":
        from . import render

        if not hasattr(render, "figure_svg"):
            raise UsageError("SVG output needs mkdocs_attnviz.render.figure_svg, which this version lacks; "
                             "write a .png or .html")
    options = {"model": args.model}
    for name in RENDER_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = str(value)
    cwd = os.getcwd()
    settings = Settings(cache_dir=os.path.abspath(args.cache_dir or DEFAULT_CACHE), cache=not args.no_cache,
                        cache_only=args.cache_only, models=_parse_models(args.model_path),
                        resources=args.resources or ("inline" if suffix == ".html" else "local"),
                        device=args.device or "auto", base_dir=cwd, allowed_root=os.path.abspath(os.sep),
                        font=args.font)
    where = "command line"
    try:
        spec = build_spec(options, args.text)
        builder = _builder(settings)
        figure = builder.build(spec)
        if suffix == ".svg":
            data = builder.svg(spec)
        else:
            data = builder.cache.read_render_file(figure.key, suffix)
            if data is None:
                raise AttnvizError(f"the figure has no {suffix} file (is fallback PNG off?)")
    except AttnvizError as exc:
        _err(f"attnviz: {where}: {exc}")
        return EXIT_FAILED
    for warning in figure.warnings:
        _err(f"attnviz: {where}: {warning}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    if suffix == ".html" and settings.resources == "local":
        builder.publish(out.parent, keys=[])  # BokehJS next to the page
    _err(f"attnviz: {figure.description} → {_display(out)}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------- cache

@dataclasses.dataclass
class _Entry:
    kind: str  # extract | render
    key: str
    files: list[Path]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files if p.exists())


def _entries(root: Path) -> list[_Entry]:
    found: dict[tuple[str, str], _Entry] = {}
    for kind in ("extract", "render"):
        base = root / kind
        if not base.is_dir():
            continue
        for path in sorted(base.glob("*/*")):
            key = path.name.split(".", 1)[0]
            if path.name.startswith(".tmp-") or not _KEY_RE.match(key) or path.parent.name != key[:2]:
                continue  # temporary files of a running build, and anything that is not ours, are left alone
            found.setdefault((kind, key), _Entry(kind, key, [])).files.append(path)
    return list(found.values())


def _used_keys(project: Project) -> tuple[set[str], list[str]]:
    """Keys (extraction and figure) the project's blocks use, computed without running any model."""
    from .pipeline import FigureBuilder

    modes = [project.settings]
    if project.kind in ("markdown", "yaml"):  # a report may be written either way
        other = "inline" if project.settings.resources == "local" else "local"
        modes.append(dataclasses.replace(project.settings, resources=other))
    used: set[str] = set()
    problems = []
    builders = [FigureBuilder(s) for s in modes]
    for block in project.blocks:
        if block.spec is None:
            continue
        try:
            ekey, _ = builders[0].extraction_key(block.spec)
        except AttnvizError as exc:
            problems.append(str(block.located(exc)))
            continue
        used.add(ekey)
        for b in builders:
            used.add(b.render_key(ekey, block.spec))
    return used, problems


def _describe(entry: _Entry) -> str:
    import json

    try:
        if entry.kind == "render":
            meta = json.loads(next(p for p in entry.files if p.suffix == ".json").read_text(encoding="utf-8"))
            return meta.get("description", "")
        import numpy as np

        with np.load(next(p for p in entry.files if p.suffix == ".npz"), allow_pickle=False) as npz:
            header = json.loads(bytes(npz["header"]).decode("utf-8"))
        return f"model {header.get('model')}, {len(header.get('tokens', []))} tokens"
    except Exception:  # a damaged entry is listed, not fatal
        return "(unreadable)"


def _cache_root(args: argparse.Namespace, project: Project | None) -> Path:
    if args.cache_dir:
        return Path(args.cache_dir).resolve()
    if project is not None and project.settings.cache_dir:
        return Path(project.settings.cache_dir)
    return Path(DEFAULT_CACHE).resolve()


def cmd_cache_ls(args: argparse.Namespace) -> int:
    project = load_project(args.path, args) if args.path else None
    root = _cache_root(args, project)
    used: set[str] | None = None
    if project is not None:
        used, problems = _used_keys(project)
        for problem in problems:
            _err(f"attnviz: {problem}")
    entries = _entries(root)
    total = 0
    for entry in entries:
        size = entry.size
        total += size
        flag = "" if used is None else ("used  " if entry.key in used else "unused")
        print("\t".join(x for x in (entry.kind, entry.key, f"{size}", flag, _describe(entry)) if x != ""))
    _err(f"attnviz: {len(entries)} entries, {total / 1e6:.1f} MB in {_display(root)}")
    return EXIT_OK


def cmd_cache_prune(args: argparse.Namespace) -> int:
    by_root: dict[Path, set[str]] = {}
    problems: list[str] = []
    for path in args.paths:
        project = load_project(path, args)
        used, trouble = _used_keys(project)
        problems += trouble
        by_root.setdefault(_cache_root(args, project), set()).update(used)
    if problems:  # a key we cannot compute may be in use: delete nothing
        for problem in problems:
            _err(f"attnviz: {problem}")
        _err("attnviz: nothing was deleted: the keys of the blocks above could not be computed")
        return EXIT_FAILED
    removed = kept = freed = 0
    for root, used in by_root.items():
        for entry in _entries(root):
            if entry.key in used:
                kept += 1
                continue
            removed += 1
            freed += entry.size
            print(f"{'would delete' if args.dry_run else 'deleted'}\t{entry.kind}\t{entry.key}")
            if not args.dry_run:
                for file in sorted(entry.files, key=lambda p: p.suffix != ".json"):  # the index first
                    try:
                        file.unlink()
                    except FileNotFoundError:
                        pass
    verb = "would delete" if args.dry_run else "deleted"
    _err(f"attnviz: {verb} {removed} entries ({freed / 1e6:.1f} MB), kept {kept} in use")
    return EXIT_OK


# --------------------------------------------------------------------------------------------- main

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit status 2, with our prefix
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"attnviz: error: {message}\n")


def _common(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: the project's, else "
                   f"{DEFAULT_CACHE} next to the SPEC)")
    p.add_argument("--model-path", metavar="NAME=FOLDER", action="append", default=[],
                   help="use a local folder for a model name (repeatable), like `models:` in the site config")
    if device:
        p.add_argument("--device", metavar="DEVICE", help="where models run on a cache miss: auto, cpu, cuda, map (a big model spread "
                       "over the devices with accelerate), "
                       "cuda:N (default: the project's setting)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="attnviz", description="Attention figures computed from the real transformer: "
                     "static reports, cache warming and single figures, sharing the cache of the MkDocs "
                     "plugin and the Sphinx extension.",
                     epilog="Exit status: 0 ok, 1 a figure failed (file and line on stderr), 2 usage error.")
    parser.add_argument("--version", action="version", version=f"attnviz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("report", help="write a static report (a folder, or one HTML file) from a SPEC",
                       description="Render a SPEC into DIR/index.html plus its assets (opens from file://, "
                       "publishes on GitHub Pages as is). SPEC is a Markdown file with attnviz blocks (the prose "
                       "is kept) or a YAML list of figures (options + text, optional heading and notes).")
    p.add_argument("spec", metavar="SPEC", help="Markdown (.md) or YAML (.yml) file")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="output folder (with --single-file: a folder, or a .html file name)")
    p.add_argument("--single-file", action="store_true",
                   help="one HTML file with everything inlined (BokehJS, data, PNGs): works offline, can be mailed")
    p.add_argument("--title", help="title of the report (default: front matter, first heading or file name)")
    p.add_argument("--cache-only", action="store_true", help="never load a model; a block missing from the "
                   "cache fails")
    _common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("warm", help="fill the cache for every block of a site or SPEC",
                       description="Find every attnviz block of PATH (a mkdocs.yml, a Sphinx source folder or a "
                       "report SPEC) and fill the cache: run this where torch and the models are, commit the "
                       "cache, and build on CI with cache_only and no torch.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    _common(p)
    p.set_defaults(func=cmd_warm)

    p = sub.add_parser("render", help="render one figure to .html, .png or .svg",
                       description="Render one figure; the format follows the extension of -o.")
    p.add_argument("--model", required=True, help="Hugging Face id, local folder, or a --model-path name")
    p.add_argument("--text", required=True, help="the sentence")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="FILE.html, FILE.png or FILE.svg")
    for name in RENDER_OPTIONS:
        from .spec import OPTIONS

        p.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar=OPTIONS[name].metavar, help=OPTIONS[name].help)
    p.add_argument("--resources", choices=("inline", "local", "cdn"),
                   help="BokehJS in the .html: inline (default, self-contained), local (copied next to it), cdn")
    p.add_argument("--font", help="font family or file for the PNG labels")
    p.add_argument("--cache-only", action="store_true", help="never load a model")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    _common(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("cache", help="list or prune the cache", description="Inspect and prune the cache.")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    q = csub.add_parser("ls", help="list the entries of the cache",
                        description="List cache entries (kind, key, bytes, [used/unused for PATH], what).")
    q.add_argument("path", metavar="PATH", nargs="?", help="mark the entries this site or SPEC uses")
    _common(q, device=False)
    q.set_defaults(func=cmd_cache_ls)
    q = csub.add_parser("prune", help="delete the entries a site does not use",
                        description="Delete every cache entry that none of the PATHs uses (keys are computed "
                        "without running any model). If a block's key cannot be computed, nothing is deleted.")
    q.add_argument("paths", metavar="PATH", nargs="+")
    q.add_argument("--dry-run", "-n", action="store_true", help="only list what would be deleted")
    _common(q, device=False)
    q.set_defaults(func=cmd_cache_prune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if args.command == "cache":
            parser.exit(EXIT_USAGE, "attnviz: error: cache needs an action: ls or prune\n")
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.WARNING)
    logs.attach(handler)
    try:
        return args.func(args)
    except UsageError as exc:
        _err(f"attnviz: error: {exc}")
        return EXIT_USAGE
    except AttnvizError as exc:
        _err(f"attnviz: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    finally:
        logs.detach(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
