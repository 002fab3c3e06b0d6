"""Rendering one prepared figure into its cache entry: the page, the PNG, a long input's side files, and the
warnings a host reports about it (each with the option it is about)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Iterable

from .cache import Cache, RenderEntry
from .errors import AttnvizWarning
from .locations import without_machine_paths
from .spec import FigureSpec
from .toolkit import fonts
from .toolkit.fonts import INSTALL_HINT

if TYPE_CHECKING:  # drawing (numpy, matplotlib) is imported when a figure is rendered: a warm build reads entries only
    from .attention import Attention
    from .prepare import Prepared
    from .views.base import Frame

__all__ = ["render", "picture", "store", "warnings_of", "warnings_from_entry", "ignored_options", "font_warning"]


def render(cache: Cache, key: str, fig: Prepared, frame: Frame, *, png: bool, font: str | None = None,
           base_dir: str | None = None) -> RenderEntry:
    """Render ``fig`` into the entry ``key`` of ``cache`` (``png``: with its picture; ``font``: the family or font
    file its labels ask for, warned about when it cannot draw here; ``base_dir``: the project's folder, which a
    warning never names)."""
    page = fig.view.page(fig, frame)
    drawn, missing = picture(fig, frame) if png else (None, [])
    return store(cache, key, fig, frame, page, drawn, missing, font=font, base_dir=base_dir)


def picture(fig: Prepared, frame: Frame) -> tuple[bytes, list[str]]:
    """``fig``'s PNG and the characters no installed font has, sorted (what :func:`store` warns about): the one way
    a PNG is drawn, in the build's process or in a worker (:mod:`mkdocs_attnviz.pictures`)."""
    from .toolkit.mpl import missing_glyphs

    with missing_glyphs() as missing:
        png = fig.view.picture(fig, frame)
    return png, sorted(missing)


def store(cache: Cache, key: str, fig: Prepared, frame: Frame, page: str, picture: bytes | None,
          missing: Iterable[str], *, font: str | None = None, base_dir: str | None = None,
          files: Iterable[tuple[str, bytes]] | None = None) -> RenderEntry:
    """Store ``fig``'s page and ``picture`` (None: no PNG; ``missing``: the characters it could not draw) as the
    entry ``key`` of ``cache``, with the view's side files (``files``: made already) and the warnings."""
    view, record = fig.view, fig.record
    drawn: dict[str, bytes] = {".html": page.encode("utf-8")}
    if picture is not None:
        drawn[".png"] = picture
    warnings, options = warnings_of(record, fig.spec, set(missing),
                                    font_warning(font, base_dir) if picture is not None else None,
                                    live_refused=fig.derived.get("live_refused"))
    meta = {"height": frame.height, "description": frame.title, "alt": view.alt(fig, frame.title),
            "tokens": record.num_tokens, "warnings": warnings, "warning_options": options}
    # a long input's side files are written to the cache one by one as the view makes them
    side = view.files(fig, frame) if files is None else files
    return cache.put_render(key, itertools.chain(drawn.items(), side), meta)


def warnings_of(record: Attention, spec: FigureSpec, missing: set[str], unusable_font: str | None = None, *,
                live_refused: str | None = None) -> tuple[list[str], list[str | None]]:
    """The warnings about a figure of ``record`` (truncation, the record's own, a font that cannot draw here
    (:func:`font_warning`), glyphs no font has, ``live="true"`` on a figure that cannot show another sentence) and
    the option each is about."""
    warnings = []
    truncated = record.meta.get("truncated")
    if truncated:
        limit = (f"max_tokens={spec.max_tokens}" if spec.max_tokens == truncated["to"]
                 else f"the model's limit of {truncated['to']} tokens")
        warnings.append(f"the input has {truncated['from']} tokens; only the first {truncated['to']} "
                        f"are shown ({limit})")
    options: list[str | None] = ["max_tokens"] * len(warnings)
    for warning in record.meta.get("warnings", []):
        warnings.append(warning)
        options.append("data" if record.meta.get("source") == "data" else None)
    if unusable_font:
        warnings.append(unusable_font)
        options.append("font")
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in sorted(missing)[:12])
        warnings.append(f"{len(missing)} character(s) have no glyph in any installed font and show as boxes in "
                        f"the PNG: {shown}{' ...' if len(missing) > 12 else ''}; {INSTALL_HINT}")
        options.append("font")
    for option, warning in ignored_options(spec, record.meta):
        warnings.append(warning)
        options.append(option)
    if live_refused:
        warnings.append(f"cannot go live: {live_refused}")
        options.append("live")
    return warnings, options


def font_warning(font: str | None, base_dir: str | None = None) -> str | None:
    """The warning about a ``font`` (family or font file) the PNG's labels cannot use here, or None: the labels
    then use DejaVu Sans (one warning, with the option, instead of matplotlib's line per text)."""
    if not font or fonts.usable(font):
        return None
    shown = without_machine_paths(font, [base_dir])
    why = "not a font file matplotlib can read" if fonts.is_file(font) else "not installed here"
    return f"font {shown!r} is {why}: the PNG's labels use DejaVu Sans"


def warnings_from_entry(entry: dict) -> list[AttnvizWarning]:
    """The warnings a render entry keeps (its messages, and the option each is about)."""
    messages, options = list(entry.get("warnings", [])), list(entry.get("warning_options", []))
    options += [None] * (len(messages) - len(options))
    return [AttnvizWarning(str(m), option=o) for m, o in zip(messages, options)]


def ignored_options(spec: FigureSpec, meta: dict) -> list[tuple[str, str]]:
    """(option, message) for each option the model of the record could not use: ``target=`` and
    ``max_new_tokens=`` steer an encoder–decoder model's decoder only, and ``max_new_tokens=`` only without
    ``target=``."""
    if meta.get("source") == "data":
        return []
    out = []
    seq2seq = bool(meta.get("is_encoder_decoder"))
    if spec.target is not None and not seq2seq:
        out.append(("target", "is ignored: the model is not an encoder-decoder model (target= is the text its decoder "
                              "reads; a causal model continues the sentence with generate=)"))
    if spec.max_new_tokens != FigureSpec.max_new_tokens:
        if not seq2seq:
            out.append(("max_new_tokens", "is ignored: the model is not an encoder-decoder model (max_new_tokens= is "
                                          "how many tokens its decoder generates; a causal model generates with "
                                          "generate=)"))
        elif spec.target is not None:
            out.append(("max_new_tokens", "is ignored: target= gives the decoder its text, nothing is generated"))
    return out
