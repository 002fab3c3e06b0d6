"""Directive options: one parser for every host.

A figure is described by a header of ``key="value"`` options and a body (the sentence). The MkDocs /
Python-Markdown fence, the Sphinx directive and the CLI all turn what the author wrote into a
:class:`FigureSpec` through :func:`parse_header` and :func:`build_spec`, so every host accepts exactly
the same values and reports the same messages.

Values
------
``model``        Hugging Face id or a folder (required, or from the site's ``defaults``).
``revision``     branch, tag or commit of a hub model.
``layer``        index (0-based), negative index, ``last`` or ``all``. Default ``last``.
``head``         index (0-based), ``mean``, ``max`` or ``all``. Default ``mean``.
``pair``         second sentence of a sentence pair.
``caption``      caption text (the model, layer and head shown are always added).
``height``       height of the figure in CSS pixels (default: fitted to the number of tokens).
``id``           HTML id of the figure (letters, digits, ``-`` and ``_``; starts with a letter).
``max_tokens``   truncate the input to this many tokens (default: the model's own limit).
``special_tokens`` ``show`` (default) or ``hide``: hiding drops the rows and columns of special tokens
                 and renormalises each remaining row to sum to 1 (stated on the figure).
``view``         ``heatmap`` (default).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from .errors import AttnvizError

__all__ = ["FigureSpec", "OPTIONS", "parse_header", "build_spec", "parse_layer", "parse_head"]

#: every option a block may carry, with a one-line description (used in messages and docs)
OPTIONS: dict[str, str] = {
    "model": "Hugging Face model id or local folder",
    "revision": "branch, tag or commit of the model",
    "layer": "layer index, negative index, 'last' or 'all'",
    "head": "head index, 'mean', 'max' or 'all'",
    "pair": "second sentence of a sentence pair",
    "caption": "caption text",
    "height": "figure height in pixels",
    "id": "HTML id of the figure",
    "max_tokens": "maximum number of tokens",
    "special_tokens": "'show' or 'hide'",
    "view": "'heatmap'",
}

VIEWS = ("heatmap",)
SPECIAL = ("show", "hide")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_TOKENS_LIMIT = 4096


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """Everything that describes one figure, validated."""

    model: str
    text: str
    revision: str | None = None
    layer: int | str = "last"  # int (may be negative until resolved), "last" or "all"
    head: int | str = "mean"  # int, "mean", "max" or "all"
    pair: str | None = None
    caption: str | None = None
    height: int | None = None
    id: str | None = None
    max_tokens: int | None = None
    special_tokens: str = "show"
    view: str = "heatmap"

    def extraction_inputs(self) -> dict[str, Any]:
        """The options that change the extracted attention (and so the extraction cache key)."""
        return {"model": self.model, "revision": self.revision, "text": self.text, "pair": self.pair,
                "max_tokens": self.max_tokens}

    def render_options(self) -> dict[str, Any]:
        """The options that change the rendered figure but not the extracted attention."""
        return {"layer": self.layer, "head": self.head, "caption": self.caption, "height": self.height,
                "id": self.id, "special_tokens": self.special_tokens, "view": self.view}


def parse_header(header: str) -> dict[str, str]:
    """Parse ``key="value" key2='value' key3=bare`` into a dict.

    Raises :class:`AttnvizError` for an unterminated quote, an option without a value, a duplicate
    option or anything that is not an option.
    """
    result: dict[str, str] = {}
    i, n = 0, len(header)
    while i < n:
        if header[i].isspace():
            i += 1
            continue
        m = _KEY_RE.match(header, i)
        if not m:
            raise AttnvizError(f"cannot read the options at {header[i:i + 20]!r}: expected key=\"value\"")
        key = m.group(0)
        i = m.end()
        if i >= n or header[i] != "=":
            raise AttnvizError("option has no value: write it as key=\"value\"", option=key)
        i += 1
        if i < n and header[i] in "\"'":
            quote = header[i]
            end = header.find(quote, i + 1)
            if end < 0:
                raise AttnvizError(f"unterminated quote ({quote}) in the value", option=key)
            value = header[i + 1:end]
            i = end + 1
            if i < n and not header[i].isspace():
                raise AttnvizError("expected a space after the closing quote", option=key)
        else:
            j = i
            while j < n and not header[j].isspace():
                if header[j] in "\"'":
                    raise AttnvizError("stray quote in an unquoted value", option=key)
                j += 1
            value = header[i:j]
            if not value:
                raise AttnvizError("option has an empty value", option=key)
            i = j
        if key in result:
            raise AttnvizError("option given twice", option=key)
        result[key] = value
    return result


def _int(value: str, option: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value.strip())
    except (ValueError, AttributeError):
        raise AttnvizError(f"expected a whole number, got {value!r}", option=option) from None
    if minimum is not None and number < minimum:
        raise AttnvizError(f"must be at least {minimum}, got {number}", option=option)
    if maximum is not None and number > maximum:
        raise AttnvizError(f"must be at most {maximum}, got {number}", option=option)
    return number


def parse_layer(value: str) -> int | str:
    """``'3'`` → 3, ``'-1'`` → -1, ``'last'``/``'all'`` kept."""
    v = str(value).strip().lower()
    if v in ("last", "all"):
        return v
    try:
        return int(v)
    except ValueError:
        raise AttnvizError(f"expected a layer number, 'last' or 'all', got {value!r}", option="layer") from None


def parse_head(value: str) -> int | str:
    """``'3'`` → 3, ``'mean'``/``'max'``/``'all'`` kept."""
    v = str(value).strip().lower()
    if v in ("mean", "max", "all"):
        return v
    try:
        number = int(v)
    except ValueError:
        raise AttnvizError(f"expected a head number, 'mean', 'max' or 'all', got {value!r}", option="head") from None
    if number < 0:
        raise AttnvizError(f"head numbers start at 0, got {number}", option="head")
    return number


def _choice(value: str, option: str, choices: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise AttnvizError(f"expected one of {', '.join(choices)}, got {value!r}", option=option)
    return v


def _clean_text(text: str, option: str) -> str:
    # Control characters other than tab/newline would reach the tokenizer and the page as invisible
    # garbage; refuse them with a clear message instead.
    bad = [c for c in text if (ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127]
    if bad:
        raise AttnvizError(f"contains control character U+{ord(bad[0]):04X}", option=option)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise AttnvizError("is empty", option=option)
    return cleaned


def build_spec(options: Mapping[str, str], body: str, *, defaults: Mapping[str, Any] | None = None) -> FigureSpec:
    """Validate the options of one block (plus site-wide ``defaults``) and its body into a spec.

    The body is the sentence: several lines are joined with single spaces. Raises
    :class:`AttnvizError` naming the option at fault.
    """
    merged: dict[str, Any] = {}
    for source in (defaults or {}), options:
        for key, value in source.items():
            if key not in OPTIONS:
                known = ", ".join(sorted(OPTIONS))
                raise AttnvizError(f"unknown option (known options: {known})", option=key)
            merged[key] = value if isinstance(value, str) else str(value)

    if body is None or not body.strip():
        raise AttnvizError("the block has no sentence: write it on the lines below the fence header", option="text")
    text = _clean_text(body, "text")

    model = merged.get("model", "").strip()
    if not model:
        raise AttnvizError("no model given: add model=\"...\" or set it in the site's defaults", option="model")

    kw: dict[str, Any] = {"model": model, "text": text}
    if "revision" in merged:
        rev = merged["revision"].strip()
        if not rev or any(c.isspace() for c in rev):
            raise AttnvizError(f"not a valid revision: {merged['revision']!r}", option="revision")
        kw["revision"] = rev
    if "layer" in merged:
        kw["layer"] = parse_layer(merged["layer"])
    if "head" in merged:
        kw["head"] = parse_head(merged["head"])
    if "pair" in merged:
        kw["pair"] = _clean_text(merged["pair"], "pair")
    if "caption" in merged:
        kw["caption"] = merged["caption"].strip() or None
    if "height" in merged:
        kw["height"] = _int(merged["height"], "height", minimum=100, maximum=4000)
    if "id" in merged:
        if not _ID_RE.match(merged["id"]):
            raise AttnvizError("must start with a letter and hold only letters, digits, '-' and '_' (64 at most)",
                               option="id")
        kw["id"] = merged["id"]
    if "max_tokens" in merged:
        kw["max_tokens"] = _int(merged["max_tokens"], "max_tokens", minimum=2, maximum=MAX_TOKENS_LIMIT)
    if "special_tokens" in merged:
        kw["special_tokens"] = _choice(merged["special_tokens"], "special_tokens", SPECIAL)
    if "view" in merged:
        kw["view"] = _choice(merged["view"], "view", VIEWS)
    return FigureSpec(**kw)


def resolve_layer(layer: int | str, num_layers: int) -> int | str:
    """Turn ``last`` and negative indices into a 0-based index; check the range."""
    if layer == "all":
        return "all"
    index = num_layers - 1 if layer == "last" else int(layer)
    if index < 0:
        index += num_layers
    if not 0 <= index < num_layers:
        raise AttnvizError(f"layer {layer} is out of range: the model has {num_layers} layers "
                           f"(0 to {num_layers - 1}, or -1 to -{num_layers})", option="layer")
    return index


def resolve_head(head: int | str, num_heads: int) -> int | str:
    """Check a head index against the model."""
    if isinstance(head, str):
        return head
    if not 0 <= head < num_heads:
        raise AttnvizError(f"head {head} is out of range: the model has {num_heads} heads (0 to {num_heads - 1})",
                           option="head")
    return head
