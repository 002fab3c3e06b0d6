"""The two cache keys of a figure: its attention's (the extraction key: the weights' fingerprint and the inputs of
the extraction stage of :data:`~mkdocs_attnviz.spec.OPTIONS`, or a ``data=`` file's content) and its files' (the
render key: the extraction key, the render stage, the model's name as the block writes it, and what the files are
made of — templates, versions, settings; a font file by its content, never its path)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
from pathlib import Path
from typing import Any, Callable

from . import attention, i18n, live, views
from . import extract as _extract
from .cache import CACHE_FORMAT, digest
from .modelrefs import ModelRefs
from .settings import Settings
from .spec import FigureSpec
from .toolkit import fonts
from .toolkit.page import RENDER_VERSION, templates_dir

__all__ = ["Keys", "extraction_inputs", "compare_spec", "templates_hash"]


def extraction_inputs(spec: FigureSpec) -> dict[str, Any]:
    """What the extraction of ``spec`` depends on: the spec's own inputs, and what its view captures besides the
    attention (the neuron view: the query and key vectors, ``qk``)."""
    inputs = spec.extraction_inputs()
    for what in views.CAPTURES.get(views.name_for(spec), ()):  # known without importing the view
        inputs[what] = True
    return inputs


def compare_spec(spec: FigureSpec) -> FigureSpec | None:
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


def templates_hash() -> str:
    """The templates, shared scripts and the words of every language: what a figure page is made of."""
    h = hashlib.sha256()
    paths = sorted(templates_dir().rglob("*")) + sorted(i18n.LOCALE_DIR.rglob("*.po"))
    for path in paths:
        if path.is_file() and path.name != "report.html.jinja":  # the CLI report page is not a figure
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "0"


class Keys:
    """The keys of one site's figures (``settings``), its models resolved by ``models``."""

    def __init__(self, settings: Settings, models: ModelRefs) -> None:
        self.settings = settings
        self.models = models
        #: ``(spec, key, ref) -> key or None``: the key of an attention that a quick preview computes instead of
        #: PyTorch (``mkdocs serve``, :mod:`mkdocs_attnviz.extract.preview`); None: PyTorch's key
        self.previewing: Callable[[FigureSpec, str, Any], str | None] | None = None
        self.render_salt = {
            "render": RENDER_VERSION,
            "bokeh": _package_version("bokeh"),
            "matplotlib": _package_version("matplotlib"),
            "templates": templates_hash(),
            "resources": settings.resources,
            "png": settings.fallback_png,
            "font": fonts.identity(settings.font) if fonts.is_file(settings.font) else settings.font,
        }

    def extraction_key(self, spec: FigureSpec) -> tuple[str, "_extract.ModelRef | None"]:
        if spec.data is not None:  # data= figures: the file's content, never its absolute path
            from . import datafile

            return digest({"kind": "data", "sha256": datafile.file_digest(spec.data), "name": self.data_name(spec),
                           "tokens": list(spec.tokens) if spec.tokens is not None else None,
                           "text": spec.text}), None
        ref = self.models.ref(spec)
        base = {"kind": "attention", "fingerprint": ref.fingerprint, "revision": spec.revision,
                "text": spec.text, "pair": spec.pair, "max_tokens": spec.max_tokens, "format": CACHE_FORMAT,
                "long": attention.LONG_TOKENS}  # from this many tokens the record is kept one layer at a time
        extra = {k: v for k, v in extraction_inputs(spec).items() if k not in base and k != "model"}
        key = digest({**base, **extra})
        if self.previewing is not None:
            key = self.previewing(spec, key, ref) or key
        return key, ref

    def render_key(self, extraction_key: str, spec: FigureSpec) -> str:
        options = dataclasses.replace(spec, lang=spec.lang or self.settings.language).render_options()
        if spec.font is not None and fonts.is_file(spec.font):  # a font file by its content, never its path
            options["font"] = fonts.identity(spec.font)
        # the model's name, as the block writes it: two names for one folder share the attention, not the label
        named = {} if spec.data is not None else {"model": spec.model}
        if spec.live and spec.data is None:  # the page names its model's export: a new export, a new page
            named["live"] = live.live_key(self.models.ref(spec))
        return digest({"kind": "figure", "attention": extraction_key, "options": options, **named,
                       **self.render_salt})

    def keys(self, spec: FigureSpec) -> tuple[str, str]:
        """The extraction key of ``spec`` (resolved) and the key of its figure."""
        ekey, _ = self.extraction_key(spec)
        other_spec = compare_spec(spec)
        both = ekey
        if other_spec is not None:  # the second input of a comparison is part of the figure's key
            both = digest({"a": ekey, "b": self.extraction_key(other_spec)[0]})
        return ekey, self.render_key(both, spec)

    def data_name(self, spec: FigureSpec) -> str:
        """A ``data=`` file's name relative to the project (what its key and its figure call it)."""
        root = self.settings.allowed_root or self.settings.base_dir or self.settings.docs_dir
        try:
            return Path(os.path.relpath(spec.data, root)).as_posix() if root else Path(spec.data).name
        except ValueError:
            return Path(spec.data).name
