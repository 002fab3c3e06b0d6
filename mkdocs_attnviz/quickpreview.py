"""What ``mkdocs serve``'s quick previews change in a build (:mod:`mkdocs_attnviz.extract.preview`): which figures'
attention a preview computes instead of PyTorch, under which key, and running it.

One :class:`BuildPreviews` per site builder. The host sets :attr:`BuildPreviews.previews` (the MkDocs plugin, in
``mkdocs serve`` only; Sphinx where ``ATTNVIZ_PREVIEWS=on`` asks for them: :meth:`BuildPreviews.from_environment`,
for ``sphinx-autobuild``, which runs a new ``sphinx-build`` for each edit); whether they are used is decided once a
build (:meth:`BuildPreviews.begin`), so that every key of one figure agrees. A previewed attention is kept under its
own key (PyTorch's, the preview's key): a build without previews never finds it.
"""

from __future__ import annotations

import sys
from typing import Any

from . import logs, machine
from .cache import Cache, digest
from .keys import extraction_inputs
from .settings import Settings
from .spec import FigureSpec

__all__ = ["BuildPreviews"]


class BuildPreviews:
    """The quick previews of one site's builds (``settings``, ``cache``)."""

    def __init__(self, settings: Settings, cache: Cache) -> None:
        self.settings = settings
        self.cache = cache
        #: this machine's previews (:class:`~mkdocs_attnviz.extract.preview.Previews`), set by the host; None: off
        self.previews: Any = None
        self._now: Any = None  # this build's: the previews while they are active at its start
        self._keys: dict[str, Any] = {}  # this build's preview keys -> their model

    def begin(self) -> None:
        """A new build: it uses the previews if they are active now."""
        self._now = self.previews if self.previews is not None and self.previews.active else None
        self._keys = {}

    def from_environment(self) -> bool:
        """Use this machine's previews in every build of this process where ``ATTNVIZ_PREVIEWS=on`` asks for them
        (:func:`~mkdocs_attnviz.machine.previews_in_builds`); whether it does."""
        folder = machine.previews_dir() if machine.previews_in_builds() else None
        if folder is None:
            return False
        from .extract.preview import Previews

        self.previews = Previews(folder)
        self.begin()
        return True

    def export_missing(self, models: Any, refs: list) -> None:
        """After a build that uses previews from the environment: a preview of each of ``refs`` that has none, where
        PyTorch is already in this process (a sentence that no preview could run loaded it), for the next build
        process (``models``: the site's :class:`~mkdocs_attnviz.modelrefs.ModelRefs`)."""
        previews = self.previews
        if previews is None or "transformers" not in sys.modules:
            return
        from .extract import preview

        missing = [ref for ref in refs if preview.previewable(ref) and not previews.has(ref)]
        if missing:
            logs.logger.info("attnviz: exporting a quick preview of %s for the next builds (once on this machine)",
                             ", ".join(ref.name for ref in missing))
            models.export_previews(missing, previews)

    def key(self, spec: FigureSpec, key: str, ref: Any) -> str | None:
        """The key under which a preview keeps the attention of ``spec`` (PyTorch's is ``key``), or None: previews
        are off for this build, PyTorch's attention is in the cache, the figure is live, or no preview can run it
        (:meth:`~mkdocs_attnviz.extract.preview.Previews.accepts`)."""
        previews = self._now
        if previews is None or spec.live or self.settings.cache_only or self.cache.has_attention(key):
            return None
        from .extract import preview

        if not previews.accepts(ref, extraction_inputs(spec)):
            return None
        found = digest({"kind": "preview", "attention": key, "preview": preview.preview_key(ref)})
        self._keys[found] = ref
        return found

    def runs(self, key: str) -> bool:
        """Whether the attention under ``key`` (from :meth:`key`) is computed by a preview in this build."""
        return self._now is not None and key in self._keys

    def attention(self, ref: Any, inputs: dict[str, Any]) -> Any:
        """The attention of ``ref`` for the extraction ``inputs``, run by its preview; None where the preview failed
        (it is not used again in this process: PyTorch runs that model's sentences)."""
        try:
            return self._now.attention(ref, inputs["text"], inputs["pair"])
        except Exception as exc:  # noqa: BLE001 - a damaged file, onnxruntime failing: PyTorch computes it
            logs.logger.info("attnviz: the quick preview of %s failed (%s); PyTorch runs its sentences", ref.name,
                             exc)
            self._now.forget(ref)
            return None

    @property
    def keys(self) -> list[str]:
        """This build's preview keys."""
        return list(self._keys)
