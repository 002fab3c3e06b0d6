"""Writing a build's figures where a host publishes them: each figure's page, PNG and a long input's side files, all
read from the cache, the files several figures share, BokehJS, the stylesheet and the scripts' words."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from .cache import Cache
from .errors import AttnvizError
from .figure import Figure
from .files import file_mode, write_if_changed
from .settings import Settings
from .toolkit import assets, bokeh
from .toolkit.page import templates_dir

__all__ = ["ASSETS_CSS", "bokehjs_name", "figure_file", "publish"]

#: the stylesheet a host adds to its pages (print and no-script fallbacks, error boxes)
ASSETS_CSS = "attnviz.css"


def bokehjs_name() -> str:
    """File name of BokehJS next to the figure pages (relative URL used by every figure)."""
    return next(iter(bokeh.bokehjs_files()))


def figure_file(cache: Cache, key: str, suffix: str) -> bytes:
    """One file (``.html``, ``.png``) of a figure built in this build, from the cache."""
    data = cache.read_render_file(key, suffix)
    if data is None:  # vanished since it was checked: a clear error, never a missing figure
        raise AttnvizError(f"cache entry for figure {key}{suffix} disappeared during the build")
    return data


def publish(out_dir: str | Path, figures: Mapping[str, Figure], cache: Cache, settings: Settings,
            keys: list[str] | None = None, *, side_only: bool = False,
            languages: Iterable[str] | None = None) -> list[Path]:
    """Write the files of ``figures`` (key → figure; or of those in ``keys``) into ``out_dir``: see
    :meth:`mkdocs_attnviz.pipeline.FigureBuilder.publish`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    used_languages = set()  # reading a catalogue costs ~7 ms: only the languages of the figures
    shared: set[str] = set()  # the files several figures share (a Bokeh document): written once
    mode = file_mode()
    for key, fig in figures.items():
        if keys is not None and key not in keys:
            continue
        used_languages.add(fig.spec.lang or settings.language)
        for suffix in fig.files:
            if side_only and suffix in (".html", ".png"):
                continue
            name = fig.filename(suffix)
            if suffix.startswith("@"):  # named after its content (file_name): the same name is the same bytes
                if name in shared:
                    continue
                shared.add(name)
            # the cache's file, checked in this build, becomes the published one (a hard link) where it can
            written.append(write_if_changed(out / name, figure_file(cache, key, suffix), mode=mode,
                                            same_as=cache.render_file_path(key, suffix)))
    if settings.resources == "local":
        for name, src in bokeh.bokehjs_files().items():
            written.append(write_if_changed(out / name, Path(src).read_bytes()))
    css = templates_dir() / ASSETS_CSS
    written.append(write_if_changed(out / ASSETS_CSS, css.read_bytes()))
    if settings.resources != "inline":  # the figure pages link them (cached by the browser across pages)
        for name, data in assets.files(used_languages if languages is None else languages).items():
            written.append(write_if_changed(out / name, data))
    return written
