"""The pipeline every host calls: spec → extract → cache → prepare → view.

:class:`FigureBuilder` turns a validated :class:`~mkdocs_attnviz.spec.FigureSpec` into a rendered figure
(a standalone HTML page and a PNG, both kept in the cache) and the HTML snippet a host puts in its page.
It never imports MkDocs or Sphinx, and it imports torch/transformers only when an extraction is really
needed: a build whose figures are all cached runs without them.

Each job has its module, and the builder holds one site's share of each: ``buildstats`` (counts, progress),
``modelrefs`` (models resolved to fingerprints, preloading), ``keys`` (the extraction and render keys),
``quickpreview`` (``mkdocs serve``: attention a quick preview computes),
``rendering`` (a figure's cache entry and its warnings), ``publishing`` (writing the files), ``embedding`` (the host
page's HTML).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import embedding, live, logs, publishing, rendering, views
from . import extract as _extract
from .buildstats import BuildStats
from .contract import LiveInfo
from .cache import Cache
from .errors import AttnvizError
from .figure import Figure, file_name
from .keys import Keys, compare_spec, extraction_inputs
from .locations import confined_file, without_machine_paths
from .modelrefs import ModelRefs
from .publishing import ASSETS_CSS
from .quickpreview import BuildPreviews
from .settings import Settings, models_advice
from .spec import FigureSpec
from .toolkit import fonts

if TYPE_CHECKING:  # drawing (numpy, matplotlib, Bokeh) is imported when a figure is rendered: a warm build does not
    from concurrent.futures import Future

    from .attention import Attention
    from .pictures import PictureWorkers
    from .prepare import Prepared
    from .views.base import Frame

__all__ = ["FigureBuilder", "Figure", "file_name", "ASSETS_CSS", "extraction_inputs", "PROGRESS_SECONDS"]

#: a cold build says how far it is at most this often (seconds)
PROGRESS_SECONDS = 5.0

#: with ``pictures_aside``, the workers start at the first figure rendered while no model is loaded yet (they start
#: while it loads), or at this many figures rendered in one build
ASIDE_AFTER = 3
#: a record is handed to a worker up to this size (weights, bytes), and while the records waiting for the workers
#: hold at most ``ASIDE_PENDING_BYTES``; else its PNG is drawn in place (the build helps the workers with their queue)
ASIDE_BYTES = 64 * 1024 * 1024
ASIDE_PENDING_BYTES = 512 * 1024 * 1024


#: at the end of a build, the build draws PNGs the workers have not begun once this many wait (else it waits: its
#: first PNG costs it the import of matplotlib)
HELP_FROM = 3


@dataclasses.dataclass
class _Pending:
    """A figure whose PNG a worker draws: everything :func:`~mkdocs_attnviz.rendering.store` needs, and where its
    block is (for its late warnings and errors)."""

    figure: Figure
    fig: "Prepared"
    frame: "Frame"
    page: str
    side: list
    png: "Future"
    font: str | None
    where: tuple[str | None, int | None]
    size: int  # bytes of the records it holds


class FigureBuilder:
    """Builds figures for one site; keeps the cache, statistics and the list of files to publish."""

    def __init__(self, settings: Settings, *, pictures_aside: bool = False) -> None:
        self.settings = settings
        #: draw PNGs in worker processes (:mod:`.pictures`), stored before :meth:`publish`: for a host that publishes
        #: once its pages are done (MkDocs)
        self.pictures_aside = pictures_aside
        self.workers: PictureWorkers | None = None
        self._pending: dict[str, _Pending] = {}  # render key -> a figure whose PNG is being drawn aside
        self._ahead: list[tuple[str, Future]] = []  # (view, what a worker makes for its pages: View.ahead)
        self.cache = Cache(settings.cache_dir, enabled=settings.cache)
        self.models = ModelRefs(settings, self.cache)
        self.keying = Keys(settings, self.models)
        self.tally = BuildStats()
        self.memo: dict = {}  # rollout/flow results by the weights' digest, shared by this build's figures
        self.live_sessions: dict = {}  # live exports loaded to check figures (live.check), by key
        self.used: dict[str, Figure] = {}  # key -> figure, everything this build embeds
        self._resolved_data: set[str] = set()  # data= paths already checked by resolve_inputs
        self.previewing = BuildPreviews(settings, self.cache)  # mkdocs serve's: the host sets .previews
        self.keying.previewing = self.previewing.key
        self.reset_stats()

    # -- statistics ----------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        """figures, hits, renders, extractions, errors of this build."""
        return self.tally.counts

    def reset_stats(self) -> None:
        self.tally.reset()
        self.previewing.begin()  # whether this build uses quick previews
        self.models.reset()  # each model resolved once a build (its files hashed once)
        self.cache.release()
        self.used = {}

    def expect(self, blocks: int) -> None:
        """The number of blocks this build will ask for: progress lines say how many figures are left."""
        self.tally.expect(blocks)

    def rejected(self) -> None:
        """Count a block that failed before :meth:`build` was asked for it (its header or options could not be
        read): the summary counts every failed block."""
        self.tally.rejected()

    def summary(self) -> str:
        return self.tally.summary()

    # -- models ----------------------------------------------------------------------------------
    def model_ref(self, spec: FigureSpec) -> "_extract.ModelRef":
        """The model of ``spec``, resolved (:meth:`mkdocs_attnviz.modelrefs.ModelRefs.ref`)."""
        return self.models.ref(spec)

    def models_used(self) -> list:
        """The models this build's figures come from (the second input of a comparison too)."""
        refs = {}
        for figure in self.used.values():
            for spec in (figure.spec, compare_spec(figure.spec)):
                if spec is not None and spec.data is None:
                    try:
                        ref = self.model_ref(spec)
                    except AttnvizError:
                        continue
                    refs[(ref.source, ref.revision)] = ref
        return list(refs.values())

    def save_hash_memo(self) -> None:  # the hashes of model files read in this build, for the next (warm) one
        self.models.save_hash_memo()

    # -- keys ------------------------------------------------------------------------------------
    def extraction_key(self, spec: FigureSpec) -> tuple[str, "_extract.ModelRef | None"]:
        return self.keying.extraction_key(spec)

    def render_key(self, extraction_key: str, spec: FigureSpec) -> str:
        return self.keying.render_key(extraction_key, spec)

    def keys(self, spec: FigureSpec) -> tuple[str, str]:
        """The extraction key of ``spec`` (resolved, see :meth:`resolve_inputs`) and the key of its figure."""
        return self.keying.keys(spec)

    def compare_spec(self, spec: FigureSpec) -> FigureSpec | None:
        """The spec of the second input of ``compare="text:..."`` / ``"model:..."`` (None for layer:/head:)."""
        return compare_spec(spec)

    # -- the pipeline --------------------------------------------------------------------------
    def resolve_inputs(self, spec: FigureSpec, page_dir: str | None = None) -> FigureSpec:
        """``data=`` (and a ``font=`` file) made an absolute, checked path (relative to ``page_dir``, then the docs
        folder)."""
        s = self.settings
        if spec.lang is None:  # the figure speaks the site's language unless its block says otherwise
            spec = dataclasses.replace(spec, lang=s.language)
        if spec.font is not None and fonts.is_file(spec.font) and spec.font not in self._resolved_data:
            # a font file: relative to the page, then the docs; an absolute path inside the project
            path = confined_file(spec.font, page_dir=page_dir, docs_dir=s.docs_dir or s.base_dir,
                                 root=s.allowed_root or s.base_dir, option="font", absolute=True)
            self._resolved_data.add(path)
            spec = dataclasses.replace(spec, font=path)
        if spec.data is None or spec.data in self._resolved_data:
            return spec
        from . import datafile

        path = datafile.resolve(spec.data, page_dir=page_dir, docs_dir=s.docs_dir or s.base_dir,
                                root=s.allowed_root or s.base_dir)
        self._resolved_data.add(path)
        return dataclasses.replace(spec, data=path)

    def attention(self, spec: FigureSpec) -> tuple[str, Attention]:
        """The attention for ``spec``: from the cache, or from one forward pass of the model."""
        key, ref = self.extraction_key(spec)
        if ref is None:  # data= file: cheap to read, never cached
            from . import datafile

            return key, datafile.load(spec.data, tokens=spec.tokens, text=spec.text,
                                      name=self.keying.data_name(spec))
        att = self.cache.get_attention(key)
        if att is None:
            if self.settings.cache_only:
                raise AttnvizError(
                    f"the attention of this block is not in the cache ({self.settings.cache_dir}) and "
                    "cache_only is on, so no model is loaded; build once with cache_only off (or run "
                    "`attnviz warm`) and commit the cache folder", option="model", kind="cache")
            inputs = extraction_inputs(spec)
            # mkdocs serve, before PyTorch is in: a quick preview (None if it failed: PyTorch runs it)
            att = self.previewing.attention(ref, inputs) if self.previewing.runs(key) else None
            self.stats["previews"] += att is not None
            if att is None:
                # the model sees only what its key holds (the extraction stage of spec.OPTIONS, the view's captures)
                att = _extract.extract(ref, inputs["text"], inputs["pair"], max_tokens=inputs["max_tokens"],
                                       device=self.settings.device, trust_remote_code=self.settings.trust_remote_code,
                                       **{k: inputs[k] for k in ("target", "max_new_tokens", "qk", "generate")
                                          if k in inputs})
            self.stats["extractions"] += 1
            self.cache.put_attention(key, att)
            # Render from what the cache holds (float16), never the fresh float32: a figure is byte-identical whether
            # its attention was just computed or read back (else two builds write different files under one key).
            att = self.cache.get_attention(key) or att
        # the record is shared by every name of the same weights: it speaks of the model by this block's name
        return key, dataclasses.replace(att, model=ref.name) if att.model != ref.name else att

    def build(self, spec: FigureSpec, *, page_dir: str | None = None,
              where: tuple[str | None, int | None] = (None, None)) -> Figure:
        """Render ``spec`` (or take it from the cache). Raises :class:`AttnvizError` on bad input.

        ``page_dir``: folder of the page holding the block (``data=`` files are looked up there first); ``where``:
        its page and line, for what is said about it after :meth:`build` returns (a PNG drawn aside)."""
        self.stats["figures"] += 1
        try:
            figure = self._build(self.resolve_inputs(spec, page_dir), where)
        except Exception as exc:  # AttnvizError, or a bug a host reports as "unexpected": a failed block either way
            self.stats["errors"] += 1
            if isinstance(exc, AttnvizError) and exc.kind == "unavailable":  # said where this host's settings live
                exc.message += f" To map it to a folder, {models_advice(self.settings, spec.model)}."
                exc.kind = "model"
            if isinstance(exc, AttnvizError):  # the log says it as the page: folders as the site config writes them
                exc.message = without_machine_paths(exc.message, self.project_roots())
            raise
        self.used[figure.key] = figure
        return figure

    def svg(self, spec: FigureSpec) -> bytes:
        """The static picture of ``spec`` as SVG (text as paths, deterministic); not cached."""
        from . import draw

        fig = self.prepared(self.resolve_inputs(spec))
        return draw.picture(fig, self._frame(fig), "svg")

    def prepared(self, spec: FigureSpec) -> Prepared:
        """The figure ``spec`` asks for, prepared once (its attention from the cache or the model)."""
        return self._prepare(spec, *self._records(spec))

    def _records(self, spec: FigureSpec) -> tuple[Attention, Attention | None]:
        """The attention of ``spec`` and of a comparison's second input (None without one)."""
        _, att = self.attention(spec)
        other_spec = compare_spec(spec)
        return att, (self.attention(other_spec)[1] if other_spec is not None else None)

    def _prepare(self, spec: FigureSpec, att: Attention, other: Attention | None) -> Prepared:
        from .prepare import prepare

        fig = prepare(att, spec, views.get(views.name_for(spec)), other=other, memo=self.memo)
        if spec.live:
            refused = live.refusal(spec, fig.view, att)
            if refused is not None:  # a warning (option 'live'); the box says why, where the view has one
                fig.derived["live_refused"] = live.REFUSALS[refused]
                if refused != "view":
                    fig.live = LiveInfo(manifest="", runtime="", reason=fig.tx._(live.REFUSALS[refused]))
            else:
                fig.live = self.live_info(spec, fig.tx._, att)
        return fig

    def live_info(self, spec: FigureSpec, translate, record: Attention) -> LiveInfo:
        """A live figure's manifest and runtime (its model exported into the cache now if it is not there yet), or the
        reason this site cannot carry it (``translate``: the figure's language)."""
        s = self.settings
        why = live.host_reason(s)  # a host that publishes no model
        if why is not None:
            return LiveInfo(manifest="", runtime="", reason=translate(why))
        key = live.ensure(self.cache, self.model_ref(spec), [(spec.text, spec.pair)],
                          trust_remote_code=s.trust_remote_code, cache_only=s.cache_only)
        # the export was checked on the sentence it was made with; each figure checks it on its own
        live.check(self.cache, key, record, spec.text, spec.pair, self.live_sessions)
        return LiveInfo(manifest=live.manifest_url(key), runtime=live.runtime_url(), reason=None)

    def _frame(self, fig: Prepared, name: str = "figure") -> Frame:
        from . import draw

        return draw.frame(fig, resources=self.settings.resources, bokeh_src=self.bokehjs_name(),
                          font=self.settings.font, name=name)

    def _build(self, spec: FigureSpec, where: tuple[str | None, int | None] = (None, None)) -> Figure:
        rkey = self.keys(spec)[1]
        pending = self._pending.get(rkey)
        if pending is not None:  # asked for again while its PNG is drawn: as from the cache
            self.stats["hits"] += 1
            return dataclasses.replace(pending.figure, spec=spec, cached=True)
        entry = self.cache.get_render(rkey)
        cached = entry is not None
        if entry is None:
            if self._start_workers(spec):
                self.workers.start()  # type: ignore[union-attr]
                if self._loading(spec):  # what the first page needs, made in a worker while the model loads
                    name = views.name_for(spec)
                    self._ahead.append((name, self.workers.submit_ahead(name, spec)))  # type: ignore[union-attr]
            att, other = self._records(spec)
            self._adopt()
            fig = self._prepare(spec, att, other)
            # the frame's description checks the layer, head and query against the model
            frame = self._frame(fig, rkey)
            font = spec.font or self.settings.font
            if self._aside(fig):
                figure = self._draw_aside(rkey, spec, fig, frame, (att, other), font, where)
            else:
                entry = rendering.render(self.cache, rkey, fig, frame, png=self.settings.fallback_png, font=font,
                                         base_dir=self.settings.base_dir)
            self.stats["renders"] += 1
            self.tally.progress(PROGRESS_SECONDS)
            if entry is None:
                return figure
        else:
            self.stats["hits"] += 1
        return Figure(key=rkey, spec=spec, height=int(entry["height"]), description=entry["description"],
                      alt=entry["alt"], files=tuple(entry["files"]), cached=cached,
                      warnings=rendering.warnings_from_entry(entry))

    def live_key(self, spec: FigureSpec) -> str:
        """The key of the live export of ``spec``'s model (:func:`mkdocs_attnviz.live.live_key`)."""
        return live.live_key(self.model_ref(spec))

    # -- PNGs drawn aside ------------------------------------------------------------------------
    def _adopt(self) -> None:
        """Take what a worker made ahead for the pages (asked for while the model loads, it is made by then, else
        nearly: it is the worker's first job; a worker that failed at it changes nothing, the page makes its own)."""
        for name, job in self._ahead:
            try:
                made = job.result()
            except Exception:  # noqa: BLE001 - a worker's failure is said where it draws a PNG
                continue
            views.get(name).adopt(made)
        self._ahead = []

    def _start_workers(self, spec: FigureSpec) -> bool:
        """Whether the figure about to be rendered starts the PNG workers (see :data:`ASIDE_AFTER`)."""
        if not (self.pictures_aside and self.settings.fallback_png) or (self.workers and self.workers.running):
            return False
        if self.workers is None:
            from .pictures import PictureWorkers

            self.workers = PictureWorkers()
        return self._loading(spec) or self.stats["renders"] >= ASIDE_AFTER

    def _loading(self, spec: FigureSpec) -> bool:
        """Whether ``spec``'s figure loads the first model of this process (not when a quick preview runs it)."""
        return (spec.data is None and _extract.STATS["loads"] == 0 and not self.settings.cache_only
                and not self.previewing.runs(self.keys(spec)[0]))

    def _aside(self, fig: Prepared) -> bool:
        """Whether ``fig``'s PNG is drawn by a worker (they run; a record small enough to hand over)."""
        if not (self.workers and self.workers.running) or fig.record.layered:
            return False
        size = _size(fig)
        waiting = sum(job.size for job in self._pending.values() if not job.png.done())
        return size <= ASIDE_BYTES and waiting + size <= ASIDE_PENDING_BYTES

    def _draw_aside(self, rkey: str, spec: FigureSpec, fig: Prepared, frame: Frame,
                    records: tuple[Attention, Attention | None], font: str | None,
                    where: tuple[str | None, int | None]) -> Figure:
        """Render ``fig``'s page here and hand its PNG to a worker; its entry is stored once the PNG is back (by a
        later figure, or by :meth:`finish`)."""
        self._store_drawn()
        page = fig.view.page(fig, frame)
        side = list(fig.view.files(fig, frame))
        png = self.workers.submit(*records, spec, views.name_for(spec), frame)  # type: ignore[union-attr]
        warnings, options = rendering.warnings_of(fig.record, spec, set(),
                                                  rendering.font_warning(font, self.settings.base_dir),
                                                  live_refused=fig.derived.get("live_refused"))
        figure = Figure(key=rkey, spec=spec, height=int(frame.height), description=frame.title,
                        alt=fig.view.alt(fig, frame.title), files=(".html", ".png", *(s for s, _ in side)),
                        cached=False, warnings=rendering.warnings_from_entry(
                            {"warnings": warnings, "warning_options": options}))
        self._pending[rkey] = _Pending(figure, fig, frame, page, side, png, font, where, _size(fig))
        return figure

    def finish(self) -> None:
        """Store every figure whose PNG a worker draws, once drawn (waiting for them), and say its late warnings (the
        characters no font has) at its page and line. A worker that failed is an :class:`AttnvizError` naming the
        block; the figures not stored then are rendered again by the next build (nothing of them was written)."""
        while self._help():  # the build's own work is done: it draws what the workers have not begun
            self._store_drawn()
        while self._pending:
            self._store(next(iter(self._pending)))

    def _help(self) -> bool:
        """Draw in this process the last PNG no worker has begun (the workers take them from the first), when enough
        wait to be worth this process's first matplotlib import; whether one was drawn. The PNG is drawn from the same
        prepared figure a worker gets, so its bytes are the same (tests/test_pictures.py)."""
        import sys
        from concurrent.futures import Future

        waiting = [rkey for rkey, job in self._pending.items() if not job.png.done()]
        if len(waiting) < HELP_FROM and "matplotlib.figure" not in sys.modules:
            return False
        for rkey in reversed(waiting):
            job = self._pending[rkey]
            if not job.png.cancel():  # begun by a worker, or in its queue already
                continue
            drawn: Future = Future()
            try:
                drawn.set_result(rendering.picture(job.fig, job.frame))
            except Exception as exc:  # noqa: BLE001 - said by _store with the block's page and line, as a worker's
                drawn.set_exception(exc)
            job.png = drawn
            return True
        return False

    def _store_drawn(self) -> None:
        """Store the figures whose PNGs are back already (what they hold is freed); a failure waits for
        :meth:`finish`, which fails the build naming its block."""
        for rkey in [k for k, job in self._pending.items()
                     if job.png.done() and not job.png.cancelled() and job.png.exception() is None]:
            self._store(rkey)

    def _store(self, rkey: str) -> None:
        job = self._pending[rkey]
        try:
            png, missing = job.png.result()
        except AttnvizError as exc:  # what the author asked for cannot be drawn: said as the block's error
            self.close()
            raise exc.located(*job.where) from None
        except Exception as exc:  # noqa: BLE001 - a bug in the drawing, or a worker that died
            self.close()
            raise AttnvizError(f"the PNG of this figure could not be drawn: {_failure(exc)}",
                               kind="render").located(*job.where) from None
        del self._pending[rkey]
        entry = rendering.store(self.cache, rkey, job.fig, job.frame, job.page, png, missing, font=job.font,
                                base_dir=self.settings.base_dir, files=job.side)
        for warning in rendering.warnings_from_entry(entry):
            if warning not in job.figure.warnings:
                logs.logger.warning("attnviz: %s", warning.located(*job.where))

    def close(self) -> None:
        """Stop the PNG workers; figures still waiting for theirs are dropped (never stored)."""
        self._pending = {}
        self._ahead = []
        if self.workers is not None:
            self.workers.close()

    # -- publishing ----------------------------------------------------------------------------
    def bokehjs_name(self) -> str:
        """File name of BokehJS next to the figure pages (relative URL used by every figure)."""
        return publishing.bokehjs_name()

    def publish(self, out_dir: str | Path, keys: list[str] | None = None, *, side_only: bool = False,
                languages: Iterable[str] | None = None) -> list[Path]:
        """Write the files of the figures used in this build (or of ``keys``) — each figure's page, PNG and, for a long
        input, its side files (``<key>.l<layer>.<head>.js``), all read from the cache — BokehJS and the CSS into
        ``out_dir``. ``side_only``: of the figures, only their side files (a page written elsewhere under another
        name still finds them next to it). The scripts' words are published in ``languages``, by default those of the
        figures published."""
        self.finish()
        written = publishing.publish(out_dir, self.used, self.cache, self.settings, keys, side_only=side_only,
                                     languages=languages)
        lives = [self.live_key(fig.spec) for key, fig in self.used.items()
                 if fig.spec.live and (keys is None or key in keys) and live.host_reason(self.settings) is None
                 and not any(w.option == "live" for w in fig.warnings)]  # a refused figure has no export
        written += live.publish(Path(out_dir), lives, self.cache)
        self.save_hash_memo()
        return written

    def figure_file(self, key: str, suffix: str) -> bytes:
        """One file (``.html``, ``.png``) of a figure built in this build, from the cache."""
        self.finish()
        return publishing.figure_file(self.cache, key, suffix)

    # -- HTML for the host page ----------------------------------------------------------------
    def embed_html(self, figure: Figure, url_prefix: str = "", *, srcdoc: str | None = None,
                   png_url: str | None = None) -> str:
        """The ``<figure>`` a host page embeds (:func:`mkdocs_attnviz.embedding.embed_html`)."""
        return embedding.embed_html(figure, self.settings.language, url_prefix, srcdoc=srcdoc, png_url=png_url)

    def error_html(self, error: AttnvizError) -> str:
        """The error box a page shows in place of a figure: paths relative to the project, never the machine's."""
        return embedding.error_html(error, self.settings.language, roots=self.project_roots())

    def project_roots(self) -> list[str | None]:
        """The folders a message names paths relative to (:func:`~mkdocs_attnviz.locations.without_machine_paths`)."""
        s = self.settings
        return [s.base_dir, s.allowed_root, s.docs_dir]


def _failure(exc: BaseException) -> str:
    """What went wrong in a PNG worker, said plainly."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return f"the process drawing it stopped ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _size(fig: Prepared) -> int:
    """Bytes of the weights and arrays of ``fig``'s record (what a worker is handed)."""
    return int(fig.record.weights.nbytes + sum(getattr(a, "nbytes", 0) for a in fig.record.arrays.values()))
