"""The models of a site's figures: each name resolved to its weights' fingerprint (once a build; remembered in the
cache for builds that cannot read the weights), the hashes of model files kept across builds (in this machine's
folder, :func:`mkdocs_attnviz.machine.hash_memo_path`, never in the cache folder), preloading, and a server's
background warm-up (:class:`Warmup`)."""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from pathlib import Path

from . import extract as _extract
from . import logs, machine
from .cache import Cache
from .errors import AttnvizError
from .settings import Settings
from .spec import FigureSpec
from .toolkit import fonts

__all__ = ["ModelRefs", "Warmup"]


class ModelRefs:
    """Resolves the model of a spec for one site (``settings``), remembering fingerprints in ``cache``."""

    def __init__(self, settings: Settings, cache: Cache) -> None:
        self.settings = settings
        self.cache = cache
        # sha256 of model files from earlier builds, keyed by (path, size, mtime): a warm build reads no weights.
        # Facts about this machine's files: kept with its key, never in the (committed) cache folder
        self.hash_memo = str(machine.hash_memo_path()) if cache.enabled else None
        _extract.load_hash_memo(self.hash_memo)
        self.known: dict[tuple[str, str | None], _extract.ModelRef] = {}  # this build's models, by (name, revision)

    def reset(self) -> None:
        """A new build: each model is resolved again (once)."""
        self.known = {}

    def ref(self, spec: FigureSpec) -> "_extract.ModelRef":
        """The model of ``spec``, resolved (once a build: its small files hashed once, not once per figure); its
        fingerprint is remembered in the cache for builds that cannot compute it. With ``cache_only``, a model folder
        that is missing here (CI, with a committed cache) or a hub snapshot that is not cached here takes the
        fingerprint the last build that could read the weights used."""
        known = self.known.get((spec.model, spec.revision))
        if known is None:
            known = self.known[(spec.model, spec.revision)] = self._resolve(spec)
        return known

    def _resolve(self, spec: FigureSpec) -> "_extract.ModelRef":
        s = self.settings
        mapped = s.models.get(spec.model)
        place = None if mapped is None else self.as_written(mapped)
        if s.cache_only and spec.revision is None:
            folder = _extract.model_folder(spec.model, models=s.models, base_dir=s.base_dir,
                                           allowed_root=s.allowed_root)
            if folder is not None and not os.path.exists(folder):
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

    def as_written(self, folder: str) -> str:
        """A mapped model folder as the site config writes it: relative to the project folder when inside it."""
        root = self.settings.base_dir
        rel = os.path.relpath(folder, root) if root else folder
        return Path(folder if rel.startswith("..") or os.path.isabs(rel) else rel).as_posix()

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
        self.prepare_drawing()

    @staticmethod
    def prepare_drawing() -> None:
        """Import what drawing a figure imports (a warm build imports none of it), and find the installed fonts."""
        import bokeh.embed  # noqa: F401
        import bokeh.models  # noqa: F401
        import bokeh.plotting  # noqa: F401
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

        fonts.discover()

    def export_previews(self, refs: list, previews) -> None:
        """Export each of ``refs`` that has no quick preview on this machine yet into ``previews``' folder (see
        :mod:`mkdocs_attnviz.extract.preview`), from the model PyTorch has loaded (on the CPU only). A model that
        cannot have one is said at DEBUG: its edits wait for PyTorch, as before."""
        if self.settings.cache_only:
            return
        from .extract import load as loading
        from .extract import preview

        for ref in refs:
            if not preview.previewable(ref) or previews.has(ref):
                continue
            started = time.perf_counter()
            try:
                if loading.pick_device(self.settings.device) != "cpu":
                    return
                loaded = loading.load_model(ref, "cpu", self.settings.trust_remote_code)
                done = preview.export(loaded, ref, previews.folder)
            except Exception as exc:  # noqa: BLE001 - no preview: this model's edits wait for PyTorch
                logs.logger.debug("attnviz: no quick preview of %s: %s", ref.name, exc)
                continue
            logs.logger.info("attnviz: %s exported for quick previews in %.1f s (float32, max |Δ| %.1e from "
                             "PyTorch): the next server (`mkdocs serve`; `sphinx-autobuild` with ATTNVIZ_PREVIEWS=on) "
                             "renders an edited sentence without waiting for PyTorch", ref.name,
                             time.perf_counter() - started, done["measured"])

    def save_hash_memo(self) -> None:
        """Keep the hashes of the model files read in this build for the next one (a warm build reads no weights)."""
        if self.cache.writable:
            _extract.save_hash_memo(self.hash_memo)


class Warmup:
    """A server's background warm-up (``mkdocs serve``): one thread, started with the server, so that the first edit
    of a sentence waits little. Once a build has named the site's models (:meth:`load`), it readies this machine's
    quick previews of them (``previews``, :mod:`mkdocs_attnviz.extract.preview`: onnxruntime, a fraction of a
    second) and what drawing a figure imports, then — once no build has run for :attr:`QUIET_SECONDS` — imports
    torch and transformers and loads the models (while it does, edits run on the previews), says so and turns the
    previews off (PyTorch's figures cost little from then on); last, it exports a preview of each model that has
    none, for the next server. On a machine without any preview it imports torch and transformers at once, beside
    the first build, which does not know the site's models yet. One thread does it all, in that order. Problems
    are left to the build that needs the model."""

    #: with previews, torch and transformers are imported once no build has run for this long (seconds): their
    #: import holds the interpreter for seconds, and a writer's edit meanwhile runs on a preview, slowed by it
    QUIET_SECONDS = 2.0

    def __init__(self, previews=None) -> None:
        self.started = time.perf_counter()
        self.previews = previews
        self._quiet = threading.Condition()
        self._building = False
        self._stopped = False
        self._last_build = time.perf_counter()
        #: torch and transformers imported from the start: no preview can help this server
        self.early = previews is None or not previews.any()
        #: set once torch and transformers are imported (or could not be)
        self.imported = threading.Event()
        self.asked = False
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="attnviz-warmup", daemon=True)
        self.thread.start()

    def load(self, site, refs: list) -> None:
        """Load ``refs`` (the models a build used) with ``site`` (the site's :class:`ModelRefs`: its ``preload``,
        ``prepare_drawing`` and ``export_previews``) once the libraries are in; the first call that names a model
        only."""
        if refs and not self.asked:
            self.asked = True
            self._jobs.put((site, refs))

    def stop(self) -> None:
        """Leave the models unloaded if they were not asked for yet (the server stops)."""
        self._jobs.put(None)
        with self._quiet:
            self._stopped = True
            self._quiet.notify_all()

    def building(self, now: bool) -> None:
        """A build begins (``now``) or ends: the import of torch and transformers waits for a quiet moment."""
        with self._quiet:
            self._building = now
            self._last_build = time.perf_counter()
            self._quiet.notify_all()

    def _wait_quiet(self) -> bool:
        """Wait until no build has run for :attr:`QUIET_SECONDS`; False if the server stopped meanwhile."""
        with self._quiet:
            while not self._stopped:
                left = None if self._building else self._last_build + self.QUIET_SECONDS - time.perf_counter()
                if left is not None and left <= 0:
                    return True
                self._quiet.wait(left)
            return False

    def _import(self) -> None:
        try:
            _extract.import_libraries()
        except ImportError as exc:  # the build that needs them reports it where it belongs
            logs.logger.debug("attnviz: importing torch and transformers in the background failed: %s", exc)
        finally:
            self.imported.set()

    def _run(self) -> None:
        if self.early:
            self._import()
        job = self._jobs.get()
        if job is None:
            return
        site, refs = job
        if self.previews is not None:
            ready = self.previews.load(refs)
            if ready:  # an edit now runs on a preview, and is drawn: what drawing imports comes before PyTorch
                site.prepare_drawing()
                logs.logger.info("attnviz: quick previews of %s ready in %.1f s (onnxruntime): an edited sentence "
                                 "renders without waiting for PyTorch", ", ".join(ref.name for ref in ready),
                                 time.perf_counter() - self.started)
        if not self.early:
            if not self._wait_quiet():
                return
            self._import()
        site.preload(refs)
        if self.previews is not None:
            self.previews.active = False
        logs.logger.info("attnviz: %s loaded in the background in %.1f s: an edited sentence renders without waiting "
                         "for it", ", ".join(ref.name for ref in refs), time.perf_counter() - self.started)
        if self.previews is not None:
            site.export_previews(refs, self.previews)
