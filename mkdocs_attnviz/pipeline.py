"""The pipeline every host calls: spec → extract → cache → prepare → view.

:class:`FigureBuilder` turns a validated :class:`~mkdocs_attnviz.spec.FigureSpec` into a rendered figure
(a standalone HTML page and a PNG, both kept in the cache) and the HTML snippet a host puts in its page.
It never imports MkDocs or Sphinx, and it imports torch/transformers only when an extraction is really
needed: a build whose figures are all cached runs without them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import itertools
import os
import time
from pathlib import Path
from typing import Any, Iterable

from . import attention, datafile, draw, i18n, logs, views
from . import extract as _extract
from .attention import Attention
from .cache import CACHE_FORMAT, Cache, RenderEntry, digest
from .files import write_if_changed
from .errors import AttnvizError
from .settings import Settings
from .prepare import Prepared, prepare
from .spec import FigureSpec
from .texts import Texts
from .toolkit import assets, bokeh
from .toolkit import fonts
from .toolkit.fonts import INSTALL_HINT
from .toolkit.mpl import missing_glyphs
from .toolkit.page import RENDER_VERSION, environment, templates_dir
from .views.base import Frame

__all__ = ["FigureBuilder", "Figure", "file_name", "ASSETS_CSS", "extraction_inputs", "PROGRESS_SECONDS"]

#: a cold build says how far it is at most this often (seconds)
PROGRESS_SECONDS = 5.0

#: the stylesheet a host adds to its pages (print and no-script fallbacks, error boxes)
ASSETS_CSS = "attnviz.css"


@dataclasses.dataclass
class Figure:
    """A rendered figure: what a host needs to embed it."""

    key: str
    spec: FigureSpec
    height: int
    description: str  # "model M, layer 5 of 6 (last), mean of 12 heads"
    alt: str
    files: tuple[str, ...]  # suffixes present: (".html", ".png"), a long input's side files (".l0.mean.js"...), shared
    # files ("@attnviz-doc-<hash>.js", see file_name)
    cached: bool
    warnings: list[str]
    warning_options: list[str | None] = dataclasses.field(default_factory=list)  # the option each warning is about

    def filename(self, suffix: str) -> str:
        return file_name(self.key, suffix)


def file_name(key: str, suffix: str) -> str:
    """The published name of a figure's file: ``<key><suffix>``, or, for a suffix ``@<name>``, ``<name>`` — a file
    several figures share (a heatmap's Bokeh document), kept in each figure's cache entry."""
    return suffix[1:] if suffix.startswith("@") else f"{key}{suffix}"


def extraction_inputs(spec: FigureSpec) -> dict[str, Any]:
    """What the extraction of ``spec`` depends on: the spec's own inputs, and what its view captures besides the
    attention (the neuron view: the query and key vectors, ``qk``)."""
    inputs = spec.extraction_inputs()
    for what in views.get(views.name_for(spec)).captures:
        inputs[what] = True
    return inputs


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "0"


class FigureBuilder:
    """Builds figures for one site; keeps the cache, statistics and the list of files to publish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = Cache(settings.cache_dir, enabled=settings.cache)
        # sha256 of model files from earlier builds, keyed by (path, size, mtime): a warm build reads no weights
        self._hash_memo = str(self.cache.root / "fingerprints.json") if self.cache.enabled else None
        _extract.load_hash_memo(self._hash_memo)
        self._render_salt = {
            "render": RENDER_VERSION,
            "bokeh": _package_version("bokeh"),
            "matplotlib": _package_version("matplotlib"),
            "templates": self._templates_hash(),
            "resources": settings.resources,
            "png": settings.fallback_png,
            "font": settings.font,
        }
        self.memo: dict = {}  # rollout/flow results by the weights' digest, shared by this build's figures
        self.used: dict[str, Figure] = {}  # key -> figure, everything this build embeds
        self._resolved_data: set[str] = set()  # data= paths already checked by resolve_inputs
        self.reset_stats()

    # -- statistics ----------------------------------------------------------------------------
    def reset_stats(self) -> None:
        self.stats = {"figures": 0, "hits": 0, "renders": 0, "extractions": 0, "errors": 0}
        self.started = time.perf_counter()
        self.used = {}
        self.expected = 0  # blocks the host expects to build (0: unknown): "12 of 50" in the progress lines
        self._last_progress = time.perf_counter()

    def expect(self, blocks: int) -> None:
        """The number of blocks this build will ask for: progress lines say how many figures are left."""
        self.expected = max(0, int(blocks))

    def _progress(self) -> None:
        """An INFO line every few seconds while figures are being rendered (a cold build can take minutes)."""
        now = time.perf_counter()
        if now - self._last_progress < PROGRESS_SECONDS:
            return
        self._last_progress = now
        s = self.stats
        left = f", {max(0, self.expected - s['figures'])} left" if self.expected else ""
        logs.logger.info("attnviz: %d figures so far (%d rendered, %d model runs)%s", s["figures"], s["renders"],
                         s["extractions"], left)

    def models_used(self) -> list:
        """The models this build's figures come from (the second input of a comparison too)."""
        refs = {}
        for figure in self.used.values():
            for spec in (figure.spec, self.compare_spec(figure.spec)):
                if spec is not None and spec.data is None:
                    try:
                        ref = self.model_ref(spec)
                    except AttnvizError:
                        continue
                    refs[(ref.source, ref.revision)] = ref
        return list(refs.values())

    def preload(self, refs: list) -> None:
        """Load ``refs`` (torch, transformers, weights) now, e.g. in the background of ``mkdocs serve``, so that the
        first edit does not wait for them. Problems are left to the build that needs the model; with ``cache_only``
        no model is ever loaded."""
        if self.settings.cache_only:
            return
        for ref in refs:
            try:
                _extract.preload(ref, self.settings.device, self.settings.trust_remote_code)
            except Exception as exc:  # noqa: BLE001 - the next build reports it where it belongs
                logs.logger.debug("attnviz: preloading %s failed: %s", ref.name, exc)
        # what drawing a figure imports (a warm build imports none of it), and the installed fonts
        import bokeh.embed  # noqa: F401
        import bokeh.models  # noqa: F401
        import bokeh.plotting  # noqa: F401
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

        fonts.discover()

    def summary(self) -> str:
        s = self.stats
        seconds = time.perf_counter() - self.started
        return (f"attnviz: {s['figures']} figures ({s['hits']} from cache, {s['renders']} rendered, "
                f"{s['extractions']} model runs, {s['errors']} errors) in {seconds:.1f} s")

    def _templates_hash(self) -> str:
        """The templates, shared scripts and the words of every language: what a figure page is made of."""
        h = hashlib.sha256()
        paths = sorted(templates_dir().rglob("*")) + sorted(i18n.LOCALE_DIR.rglob("*.po"))
        for path in paths:
            if path.is_file() and path.name != "report.html.jinja":  # the CLI report page is not a figure
                h.update(path.name.encode())
                h.update(path.read_bytes())
        return h.hexdigest()[:16]

    # -- the pipeline --------------------------------------------------------------------------
    def extraction_key(self, spec: FigureSpec) -> tuple[str, "_extract.ModelRef | None"]:
        if spec.data is not None:  # data= figures: the file's content, never its absolute path
            return digest({"kind": "data", "sha256": datafile.file_digest(spec.data), "name": self._data_name(spec),
                           "tokens": list(spec.tokens) if spec.tokens is not None else None,
                           "text": spec.text}), None
        ref = self.model_ref(spec)
        base = {"kind": "attention", "fingerprint": ref.fingerprint, "revision": spec.revision,
                "text": spec.text, "pair": spec.pair, "max_tokens": spec.max_tokens, "format": CACHE_FORMAT,
                "long": attention.LONG_TOKENS}  # from this many tokens the record is kept one layer at a time
        extra = {k: v for k, v in extraction_inputs(spec).items() if k not in base and k != "model"}
        key = digest({**base, **extra})
        return key, ref

    def model_ref(self, spec: FigureSpec) -> "_extract.ModelRef":
        """The model of ``spec``, resolved; its fingerprint is remembered in the cache for builds that cannot
        compute it. With ``cache_only``, a model folder that is missing here (CI, with a committed cache) or a hub
        snapshot that is not cached here takes the fingerprint the last build that could read the weights used."""
        s = self.settings
        mapped = s.models.get(spec.model)
        place = None if mapped is None else self._as_written(mapped)
        if s.cache_only and spec.revision is None:
            folder = _extract.model_folder(spec.model, models=s.models, base_dir=s.base_dir,
                                           allowed_root=s.allowed_root)
            if folder is not None and not os.path.isdir(folder):
                fingerprint = self.cache.remembered_fingerprint(spec.model, None, place)
                if fingerprint is None:
                    raise AttnvizError(
                        f"model folder {folder!r} (for {spec.model!r}) does not exist here, and the cache "
                        f"({s.cache_dir}) remembers no weights for it, so its entries cannot be found with "
                        "cache_only on: build once where the folder exists with cache_only off (or run `attnviz "
                        "warm`) and commit the cache folder", option="model")
                return _extract.ModelRef(name=spec.model, source=folder, revision=None, fingerprint=fingerprint,
                                         local=True)
        ref = _extract.resolve_model(spec.model, spec.revision, models=s.models, base_dir=s.base_dir,
                                     allowed_root=s.allowed_root)
        if ref.pinned:
            self.cache.remember_fingerprint(spec.model, spec.revision, place, ref.fingerprint)
        elif s.cache_only:
            fingerprint = self.cache.remembered_fingerprint(spec.model, spec.revision, place)
            if fingerprint is not None:
                ref = dataclasses.replace(ref, fingerprint=fingerprint, pinned=True)
        return ref

    def _as_written(self, folder: str) -> str:
        """A mapped model folder as the site config writes it: relative to the project folder when inside it."""
        root = self.settings.base_dir
        rel = os.path.relpath(folder, root) if root else folder
        return Path(folder if rel.startswith("..") or os.path.isabs(rel) else rel).as_posix()

    def _data_name(self, spec: FigureSpec) -> str:
        root = self.settings.allowed_root or self.settings.base_dir or self.settings.docs_dir
        try:
            return Path(os.path.relpath(spec.data, root)).as_posix() if root else Path(spec.data).name
        except ValueError:
            return Path(spec.data).name

    def resolve_inputs(self, spec: FigureSpec, page_dir: str | None = None) -> FigureSpec:
        """``data=`` made an absolute, checked path (relative to ``page_dir``, then the docs folder)."""
        if spec.lang is None:  # the figure speaks the site's language unless its block says otherwise
            spec = dataclasses.replace(spec, lang=self.settings.language)
        if spec.data is None or spec.data in self._resolved_data:
            return spec
        s = self.settings
        path = datafile.resolve(spec.data, page_dir=page_dir, docs_dir=s.docs_dir or s.base_dir,
                             root=s.allowed_root or s.base_dir)
        self._resolved_data.add(path)
        return dataclasses.replace(spec, data=path)

    def render_key(self, extraction_key: str, spec: FigureSpec) -> str:
        options = dataclasses.replace(spec, lang=spec.lang or self.settings.language).render_options()
        return digest({"kind": "figure", "attention": extraction_key, "options": options,
                       **self._render_salt})

    def attention(self, spec: FigureSpec) -> tuple[str, Attention]:
        """The attention for ``spec``: from the cache, or from one forward pass of the model."""
        key, ref = self.extraction_key(spec)
        if ref is None:  # data= file: cheap to read, never cached
            return key, datafile.load(spec.data, tokens=spec.tokens, text=spec.text, name=self._data_name(spec))
        att = self.cache.get_attention(key)
        if att is None:
            if self.settings.cache_only:
                raise AttnvizError(
                    f"the attention of this block is not in the cache ({self.settings.cache_dir}) and "
                    "cache_only is on, so no model is loaded; build once with cache_only off (or run "
                    "`attnviz warm`) and commit the cache folder", option="model")
            inputs = extraction_inputs(spec)
            att = _extract.extract(ref, spec.text, spec.pair, max_tokens=spec.max_tokens,
                                   device=self.settings.device, trust_remote_code=self.settings.trust_remote_code,
                                   **{k: inputs[k] for k in ("target", "max_new_tokens", "qk", "generate") if k in inputs})
            self.stats["extractions"] += 1
            self.cache.put_attention(key, att)
            # Render from what the cache holds (float16), never from the fresh float32 arrays: a figure
            # must be byte-identical whether its attention was just computed or read back (by a later
            # build, or by a second build sharing the cache), else two builds write different files
            # under one key.
            att = self.cache.get_attention(key) or att
        return key, att

    def build(self, spec: FigureSpec, *, page_dir: str | None = None) -> Figure:
        """Render ``spec`` (or take it from the cache). Raises :class:`AttnvizError` on bad input.

        ``page_dir``: folder of the page holding the block (``data=`` files are looked up there first)."""
        self.stats["figures"] += 1
        try:
            figure = self._build(self.resolve_inputs(spec, page_dir))
        except AttnvizError:
            self.stats["errors"] += 1
            raise
        self.used[figure.key] = figure
        return figure

    def svg(self, spec: FigureSpec) -> bytes:
        """The static picture of ``spec`` as SVG (text as paths, deterministic); not cached."""
        fig = self.prepared(self.resolve_inputs(spec))
        return draw.picture(fig, self._frame(fig), "svg")

    def prepared(self, spec: FigureSpec) -> Prepared:
        """The figure ``spec`` asks for, prepared once (its attention from the cache or the model)."""
        _, att = self.attention(spec)
        other_spec = self.compare_spec(spec)
        other = self.attention(other_spec)[1] if other_spec is not None else None
        return prepare(att, spec, views.get(views.name_for(spec)), other=other, memo=self.memo)

    def _frame(self, fig: Prepared, name: str = "figure") -> Frame:
        return draw.frame(fig, resources=self.settings.resources, bokeh_src=self.bokehjs_name(),
                          font=self.settings.font, name=name)

    def compare_spec(self, spec: FigureSpec) -> FigureSpec | None:
        """The spec of the second input of ``compare="text:..."`` / ``"model:..."`` (None for layer:/head:)."""
        if spec.compare is None or spec.compare[0] not in ("text", "model"):
            return None
        kind, value = spec.compare
        change: dict[str, Any] = {"compare": None, "caption": None, "id": None}
        if kind == "text":
            change["text"] = str(value)
        else:
            change.update(model=str(value), revision=None, data=None, tokens=None)
        return dataclasses.replace(spec, **change)

    def _build(self, spec: FigureSpec) -> Figure:
        ekey, _ = self.extraction_key(spec)
        other_spec = self.compare_spec(spec)
        if other_spec is not None:  # the second input of a comparison is part of the figure's key
            ekey = digest({"a": ekey, "b": self.extraction_key(other_spec)[0]})
        rkey = self.render_key(ekey, spec)
        entry = self.cache.get_render(rkey)
        cached = entry is not None
        if entry is None:
            entry = self._render(rkey, self.prepared(spec))
            self.stats["renders"] += 1
            self._progress()
        else:
            self.stats["hits"] += 1
        return Figure(key=rkey, spec=spec, height=int(entry["height"]), description=entry["description"],
                      alt=entry["alt"], files=tuple(entry["files"]), cached=cached,
                      warnings=list(entry.get("warnings", [])),
                      warning_options=list(entry.get("warning_options", [])))

    def _render(self, key: str, fig: Prepared) -> RenderEntry:
        view, spec, record = fig.view, fig.spec, fig.record
        frame = self._frame(fig, key)  # the description checks the layer, head and query against the model
        files: dict[str, bytes] = {".html": view.page(fig, frame).encode("utf-8")}
        with missing_glyphs() as missing:
            if self.settings.fallback_png:
                files[".png"] = view.picture(fig, frame)
        warnings = []
        truncated = record.meta.get("truncated")
        if truncated:
            limit = (f"max_tokens={spec.max_tokens}" if spec.max_tokens == truncated["to"]
                     else f"the model's limit of {truncated['to']} tokens")
            warnings.append(f"the input has {truncated['from']} tokens; only the first {truncated['to']} "
                            f"are shown ({limit})")
        options = ["max_tokens"] * len(warnings)
        for warning in record.meta.get("warnings", []):
            warnings.append(warning)
            options.append("data" if record.meta.get("source") == "data" else None)
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in sorted(missing)[:12])
            warnings.append(f"{len(missing)} character(s) have no glyph in any installed font and show as boxes in "
                            f"the PNG: {shown}{' ...' if len(missing) > 12 else ''}; {INSTALL_HINT}")
            options.append("font")
        meta = {"height": frame.height, "description": frame.title, "alt": view.alt(fig, frame.title),
                "tokens": record.num_tokens, "warnings": warnings, "warning_options": options}
        # a long input's side files are written to the cache one by one as the view makes them
        return self.cache.put_render(key, itertools.chain(files.items(), view.files(fig, frame)), meta)

    # -- publishing ----------------------------------------------------------------------------
    def bokehjs_name(self) -> str:
        """File name of BokehJS next to the figure pages (relative URL used by every figure)."""
        return next(iter(bokeh.bokehjs_files()))

    def publish(self, out_dir: str | Path, keys: list[str] | None = None, *, side_only: bool = False,
                languages: Iterable[str] | None = None) -> list[Path]:
        """Write the files of the figures used in this build (or of ``keys``) — each figure's page, PNG and, for a long
        input, its side files (``<key>.l<layer>.<head>.js``), all read from the cache — BokehJS and the CSS into
        ``out_dir``. ``side_only``: of the figures, only their side files (a page written elsewhere under another
        name still finds them next to it). The scripts' words are published in ``languages``, by default those of the
        figures published."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        used_languages = set()  # reading a catalogue costs ~7 ms: only the languages of the figures
        for key, fig in self.used.items():
            if keys is not None and key not in keys:
                continue
            used_languages.add(fig.spec.lang or self.settings.language)
            for suffix in fig.files:
                if side_only and suffix in (".html", ".png"):
                    continue
                written.append(write_if_changed(out / fig.filename(suffix), self.figure_file(key, suffix)))
        if self.settings.resources == "local":
            for name, src in bokeh.bokehjs_files().items():
                written.append(write_if_changed(out / name, Path(src).read_bytes()))
        css = templates_dir() / ASSETS_CSS
        written.append(write_if_changed(out / ASSETS_CSS, css.read_bytes()))
        if self.settings.resources != "inline":  # the figure pages link them (cached by the browser across pages)
            for name, data in assets.files(used_languages if languages is None else languages).items():
                written.append(write_if_changed(out / name, data))
        self.save_hash_memo()
        return written

    def figure_file(self, key: str, suffix: str) -> bytes:
        """One file (``.html``, ``.png``) of a figure built in this build, from the cache."""
        data = self.cache.read_render_file(key, suffix)
        if data is None:  # vanished since it was checked: a clear error, never a missing figure
            raise AttnvizError(f"cache entry for figure {key}{suffix} disappeared during the build")
        return data

    def save_hash_memo(self) -> None:
        """Keep the hashes of the model files read in this build for the next one (a warm build reads no weights)."""
        if self.cache.writable:
            _extract.save_hash_memo(self._hash_memo)

    # -- HTML for the host page ----------------------------------------------------------------
    def embed_html(self, figure: Figure, url_prefix: str = "", *, srcdoc: str | None = None,
                   png_url: str | None = None) -> str:
        """The ``<figure>`` a host page embeds; ``url_prefix`` leads from the page to the assets folder.

        ``srcdoc`` (the figure page's HTML) and ``png_url`` carry the figure in the page itself instead
        (:mod:`mkdocs_attnviz.inline`)."""
        if srcdoc is None:
            html_url = url_prefix + figure.filename(".html")
            png_url = url_prefix + figure.filename(".png") if ".png" in figure.files else None
        else:
            html_url = None
        return environment().get_template("embed.html.jinja").render(
            fig=figure, spec=figure.spec, prefix=url_prefix, html_url=html_url, png_url=png_url,
            srcdoc=srcdoc, host_script=assets.host_script(), _=Texts(figure.spec.lang or self.settings.language)._)

    def error_html(self, error: AttnvizError) -> str:
        return environment().get_template("error.html.jinja").render(error=error, _=Texts(self.settings.language)._)

