"""The values of directive options, read from what an author wrote: the header of a block (``key="value"``) and
the parsers :data:`mkdocs_attnviz.spec.OPTIONS` names for each option. Every parser raises
:class:`~mkdocs_attnviz.errors.AttnvizError` naming the option."""

from __future__ import annotations

import re

from .errors import AttnvizError, did_you_mean

__all__ = ["parse_header", "parse_int", "parse_layer", "parse_head", "parse_choice", "clean_text", "parse_compare",
           "COMPARE_KINDS"]

COMPARE_KINDS = ("layer", "head", "text", "model")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


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


def parse_int(value: str, option: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
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


def parse_choice(value: str, option: str, choices: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise AttnvizError(f"expected one of {', '.join(choices)}, got {value!r}{did_you_mean(v, choices)}",
                           option=option)
    return v


def clean_text(text: str, option: str) -> str:
    # Control characters other than tab/newline would reach the tokenizer and the page as invisible
    # garbage; refuse them with a clear message instead.
    bad = [c for c in text if (ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127]
    if bad:
        raise AttnvizError(f"contains control character U+{ord(bad[0]):04X}", option=option)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise AttnvizError("is empty", option=option)
    return cleaned


def parse_compare(value: str) -> tuple[str, int | str]:
    """``layer:3`` → ("layer", 3) (also ``last`` and negative), ``head:5`` → ("head", 5) (also ``mean``/``max``),
    ``text:A sentence`` → ("text", "A sentence"), ``model:name`` → ("model", "name")."""
    kind, sep, rest = str(value).partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in COMPARE_KINDS:
        raise AttnvizError(f"expected layer:N, head:N, text:SENTENCE or model:NAME, got {value!r}", option="compare")
    rest = rest.strip()
    if not rest:
        raise AttnvizError(f"{kind}: needs a value, e.g. compare=\"{kind}:...\"", option="compare")
    if kind == "layer":
        layer = parse_layer(rest) if rest.lower() != "all" else None
        if layer is None:
            raise AttnvizError("compare a layer with one other layer, not 'all'", option="compare")
        return kind, layer
    if kind == "head":
        v = rest.lower()
        if v in ("mean", "max"):
            return kind, v
        try:
            number = int(v)
        except ValueError:
            raise AttnvizError(f"expected a head number, 'mean' or 'max' after head:, got {rest!r}",
                               option="compare") from None
        if number < 0:
            raise AttnvizError(f"head numbers start at 0, got {number}", option="compare")
        return kind, number
    if kind == "text":
        return kind, clean_text(rest, "compare")
    if any(c.isspace() for c in rest) or any(ord(c) < 32 for c in rest):
        raise AttnvizError(f"not a model name: {rest!r}", option="compare")
    return kind, rest
