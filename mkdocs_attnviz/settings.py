"""Site-wide settings: one table, one builder, for every host.

The MkDocs plugin (``plugins: [{attnviz: {...}}]``), the Sphinx extension (``attnviz_<name>`` in ``conf.py``), the
Python-Markdown extension and the ``attnviz`` command all describe a site with the keys of :data:`SETTINGS` and
turn them into one frozen :class:`Settings` with :func:`build_settings`: relative folders are taken from the
project's root folder (the folder of ``mkdocs.yml``, of ``conf.py``, of a report SPEC), values are checked with
the same messages everywhere, and the ``defaults`` are validated once with the directive parser.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import AttnvizError, did_you_mean
from .i18n import normalize

__all__ = ["Settings", "Setting", "SETTINGS", "DEFAULT_CACHE", "build_settings", "with_site_language"]

#: the cache folder, relative to the project's root folder, when a site names none
DEFAULT_CACHE = ".cache/plugin/attnviz"

RESOURCES = ("local", "cdn", "inline")
ON_ERROR = ("warn", "fail")
DEVICES = ("auto", "cpu", "cuda", "map")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|map|mps)$")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One site-wide key: its default, what it means, and its choices (if it has a fixed set)."""

    default: Any
    help: str
    choices: tuple[str, ...] | None = None


#: every site-wide key a host accepts (MkDocs plugin config, ``attnviz_<key>`` in Sphinx, extension config)
SETTINGS: dict[str, Setting] = {
    "cache": Setting(True, "keep extracted attention and rendered figures on disk between builds"),
    "cache_dir": Setting(DEFAULT_CACHE, "cache folder, relative to the project's root folder (mkdocs.yml, conf.py)"),
    "cache_only": Setting(False, "never load a model: a block missing from the cache is an error"),
    "models": Setting({}, "map from a model name used in pages to a local folder or GGUF file (relative to the root "
                      "folder)"),
    "defaults": Setting({}, "default options for every block, e.g. model"),
    "resources": Setting("local", "where figures load BokehJS from: a copy in the site (local), Bokeh's CDN "
                         "(cdn), or inlined in each figure (inline)", RESOURCES),
    "fallback_png": Setting(True, "render a PNG of each figure for readers without scripts and for print"),
    "on_error": Setting("warn", "warn: a bad block logs a warning and shows an error box; fail: the build stops",
                        ON_ERROR),
    "device": Setting("auto", "device the models run on when the cache misses: auto, cpu, cuda, cuda:N, or map "
                      "(a big model spread over the devices with accelerate)", DEVICES),
    "trust_remote_code": Setting(False, "allow models whose repository ships its own code (off: refused)"),
    "font": Setting(None, "font family (or file) for the PNG labels; CJK fonts are found automatically"),
    "language": Setting(None, "language of the figures' words: en, ja, zh, ko, de, fr or es (default: the site's "
                        "language where the host has one, else English)"),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Site-wide settings, resolved (absolute folders) and checked: what the pipeline runs with."""

    cache_dir: str | None = DEFAULT_CACHE
    cache: bool = True
    cache_only: bool = False
    models: Mapping[str, str] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    resources: str = "local"  # local | cdn | inline
    fallback_png: bool = True
    on_error: str = "warn"  # warn | fail
    device: str = "auto"  # auto | cpu | cuda | cuda:N | map
    trust_remote_code: bool = False
    base_dir: str | None = None  # folder that relative model paths in directives are resolved against
    allowed_root: str | None = None  # paths named in directives must stay inside this folder
    font: str | None = None
    docs_dir: str | None = None  # folder data= files are also looked up in (after the page's own folder)
    language: str = "en"  # the figures' language (a block's lang= wins)
    # where the site's settings live, for advice in messages: mkdocs | sphinx | zensical | cli | spec | markdown,
    # and the file that holds them (as the user named it), if any
    host: str = "markdown"
    config_file: str | None = None


def models_advice(settings: Settings, name: str) -> str:
    """How to map the model ``name`` to a local folder, said where this host keeps its settings."""
    file = settings.config_file
    if settings.host == "mkdocs":
        return f"add it under `models:` of the attnviz plugin in {file or 'mkdocs.yml'} (models: {{{name}: path/to/folder}})"
    if settings.host == "sphinx":
        return f"add it to attnviz_models in {file or 'conf.py'} (attnviz_models = {{{name!r}: 'path/to/folder'}})"
    if settings.host == "zensical":
        return (f"add it to the [project.markdown_extensions.attnviz] table of {file or 'zensical.toml'} "
                f"(models = {{ \"{name}\" = \"path/to/folder\" }})")
    if settings.host == "cli":
        return f"pass --model-path {name}=path/to/folder"
    if settings.host == "notebook":
        return f"pass models={{{name!r}: 'path/to/folder'}} to av.show"
    if settings.host == "spec":
        return f"add it under `models:` in the SPEC's front matter, or pass --model-path {name}=path/to/folder"
    return f"give the extension models={{{name!r}: 'path/to/folder'}}"


#: a ``font`` setting that names a file (relative to the project's root folder) rather than a family
_FONT_FILE_RE = re.compile(r"(?i)(\.(ttf|otf|ttc|otc)$|[/\\])")


def _folder(root: str, value: Any) -> str:
    return os.path.normpath(os.path.join(root, os.path.expanduser(str(value))))


def _published_cache_error(cache_dir: str, published: Mapping[str, Any], base: str, prefix: str) -> str | None:
    """Why ``cache_dir`` may not be where it is: inside a folder the host publishes (None: it may)."""
    real = os.path.realpath(cache_dir)
    for name, folder in published.items():
        if not folder:
            continue
        inside = os.path.realpath(os.path.join(base, os.fspath(folder)))
        try:
            if os.path.commonpath([real, inside]) != inside:
                continue
        except ValueError:  # another drive
            continue
        shown = {path: Path(os.path.relpath(path, base)).as_posix() if os.path.commonpath([path, base]) == base
                 else Path(path).name for path in (os.path.abspath(cache_dir), os.path.abspath(inside))}
        return (f"setting '{prefix}cache_dir' ({shown[os.path.abspath(cache_dir)]}) is inside {name} "
                f"({shown[os.path.abspath(inside)]}): the cache would be published with the site; put it outside, "
                f"e.g. the default {DEFAULT_CACHE}")
    return None


def build_settings(values: Mapping[str, Any], root: str | os.PathLike, *, docs_dir: str | os.PathLike | None = None,
                   allowed_root: str | os.PathLike | None = None, prefix: str = "", host: str = "markdown",
                   config_file: str | None = None,
                   published: Mapping[str, str | os.PathLike | None] | None = None) -> Settings:
    """:class:`Settings` from the keys of :data:`SETTINGS` (missing ones take their default).

    ``published``: the folders the host publishes, by the name its users know them by (``{"site_dir": ...}``;
    ``docs_dir`` is one too): ``cache_dir`` may not be inside any of them.

    ``root`` is the project's root folder: relative ``cache_dir`` and ``models`` folders are taken from it, and
    model folders named in directives must stay inside ``allowed_root`` (default: ``root``). Raises
    :class:`AttnvizError` naming the key (as the host spells it: ``prefix`` + key, e.g. ``attnviz_models`` in
    Sphinx) for an unknown key or a value of the wrong kind.
    """
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        known = [prefix + k for k in SETTINGS]
        hints = "".join(did_you_mean(prefix + k, known).replace("?", f" (for '{prefix + k}')?") for k in unknown)
        raise AttnvizError(f"unknown setting(s) {', '.join(prefix + k for k in unknown)} (known: {', '.join(known)})"
                           f"{hints}")
    v = {name: values.get(name, setting.default) for name, setting in SETTINGS.items()}
    for name in ("cache", "cache_only", "fallback_png", "trust_remote_code"):
        if not isinstance(v[name], bool):
            raise AttnvizError(f"setting '{prefix}{name}' must be true or false, not {v[name]!r}")
    for name in ("models", "defaults"):
        if v[name] is None:
            v[name] = {}
        if not isinstance(v[name], Mapping):
            raise AttnvizError(f"setting '{prefix}{name}' must be a mapping, not {type(v[name]).__name__}")
    for name in ("resources", "on_error"):
        if v[name] not in SETTINGS[name].choices:
            raise AttnvizError(f"setting '{prefix}{name}' is {v[name]!r}: expected one of {', '.join(SETTINGS[name].choices)}")
    device = str(v["device"]).strip().lower()
    if not _DEVICE_RE.match(device):
        raise AttnvizError(f"setting '{prefix}device' is {v['device']!r}: expected auto, cpu, cuda, cuda:N or map")
    if v["font"] is not None and (not isinstance(v["font"], str) or not v["font"].strip()):
        raise AttnvizError(f"setting '{prefix}font' must be a font family or file, not {v['font']!r}")
    try:
        language = normalize(v["language"], option=f"{prefix}language")
    except AttnvizError as exc:
        raise AttnvizError(f"setting '{prefix}language': {exc.message}") from None
    defaults = {str(k): str(val) for k, val in v["defaults"].items()}
    if defaults:  # checked once here, with the directive parser's own messages
        from .spec import build_spec

        try:
            build_spec({}, "check", defaults={"model": "check", **defaults})
        except AttnvizError as exc:
            raise AttnvizError(f"setting '{prefix}defaults': {exc}") from None
    base = os.path.abspath(os.fspath(root))
    cache_dir = _folder(base, v["cache_dir"]) if v["cache_dir"] else None
    if cache_dir and v["cache"]:
        wrong = _published_cache_error(cache_dir, {"docs_dir": docs_dir, **(published or {})}, base, prefix)
        if wrong:
            raise AttnvizError(wrong)
    return Settings(
        cache_dir=cache_dir,
        cache=v["cache"],
        cache_only=v["cache_only"],
        models={str(name): _folder(base, path) for name, path in v["models"].items()},
        defaults=defaults,
        resources=v["resources"],
        fallback_png=v["fallback_png"],
        on_error=v["on_error"],
        device=device,
        trust_remote_code=v["trust_remote_code"],
        base_dir=base,
        allowed_root=os.path.abspath(os.fspath(allowed_root)) if allowed_root else base,
        font=_folder(base, v["font"]) if v["font"] and _FONT_FILE_RE.search(v["font"]) else v["font"],
        docs_dir=os.path.abspath(os.fspath(docs_dir)) if docs_dir else None,
        language=language,
        host=host,
        config_file=config_file,
    )


def with_site_language(values: Mapping[str, Any], site_language: str | None) -> dict[str, Any]:
    """``values`` with ``language`` taken from the site's own language (MkDocs ``theme.language``, Sphinx
    ``language``, Zensical's theme language, a report's front matter) when the attnviz settings name none.

    A site language figures have no catalogue for leaves them in English, with one warning (a ``language``
    setting or a block's ``lang=`` naming one is an error instead)."""
    out = dict(values)
    if out.get("language") is not None or not site_language:
        return out
    try:
        out["language"] = normalize(site_language)
    except AttnvizError:
        from .i18n import LANGUAGES
        from .logs import logger

        logger.warning("attnviz: the site's language %r has no translation of the figures' words (available: %s); "
                       "figures are in English (set the attnviz `language` setting to choose one)", site_language,
                       ", ".join(LANGUAGES))
    return out
