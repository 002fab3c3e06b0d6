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
``special_tokens`` ``show`` (default), ``hide`` or ``hide-raw``: hiding drops the rows and columns of special
                 tokens; ``hide`` renormalises each remaining row to sum to 1, ``hide-raw`` does not (stated on
                 the figure).
``view``         ``heatmap`` (default), ``bars``, ``heads``, ``model``, ``neuron`` or ``summary`` (see
                 :mod:`mkdocs_attnviz.views`).
``values``       ``auto`` (default: numbers in the heatmap cells up to 20 tokens), ``true`` or ``false``.
``colormap``     colour map of the heatmap and the model view (``viridis`` by default; see :data:`COLORMAPS`).
``style``        ``default`` or ``classic``: the PNG drawn with the literal matplotlib recipe.
``query``        query token (index, negative index or the token's text) for ``bars`` and ``neuron``.
``target``       decoder text of an encoder–decoder model (default: greedy generation).
``max_new_tokens`` tokens generated when ``target`` is absent (1 to 256, default 20).
``attention``    ``encoder``, ``decoder`` or ``cross`` for encoder–decoder models (default ``encoder``).
``data``         a ``.npy``, ``.csv`` or ``.json`` matrix (or layers × heads stack) inside the project: no model.
``tokens``       the tokens of ``data`` (whitespace-separated, or ``|``-separated when the value holds a ``|``).
``theme``        ``auto`` (default: follow the site), ``light`` or ``dark``.
``lang``         the language of the figure's words (``en``, ``ja``, ``zh``, ``ko``, ``de``, ``fr``, ``es``; default: the
                 site's language). Tokens are never translated.
``font``         font family or file for the PNG labels of this figure.
``filter``       initial segment filter of a sentence pair: ``all``, ``AA``, ``AB``, ``BA``, ``BB``.
``aggregate``    ``none`` (default: the raw weights), ``rollout`` or ``flow`` (Abnar & Zuidema 2020): the
                 layer axis becomes "up to layer l" (see docs/analysis.md).
``granularity``  ``token`` (default) or ``word``: subword pieces merged into words (Clark et al. 2019).
``compare``      ``layer:N``, ``head:N``, ``text:SENTENCE`` or ``model:NAME``: A, B and A − B side by side.
``generate``     causal models: greedily generate this many tokens after the sentence (1 to 256), then show
                 the attention over prompt + generated text.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from . import views
from .errors import AttnvizError, did_you_mean
from .i18n import LANGUAGES, normalize

__all__ = ["FigureSpec", "Option", "OPTIONS", "parse_header", "build_spec", "parse_layer", "parse_head", "COLORMAPS",
           "parse_compare", "VIEWS"]

@dataclasses.dataclass(frozen=True)
class Option:
    """One directive option: what it means and the shape of its value (for messages, docs and CLI flags)."""

    help: str
    metavar: str = "VALUE"

    def flag(self, name: str) -> str:
        """The ``attnviz render`` flag of the option: ``max_tokens`` → ``--max-tokens``."""
        return "--" + name.replace("_", "-")


#: every option a block may carry: the MkDocs/Markdown fence, the Sphinx directive and every ``attnviz render``
#: flag are made from this one table
OPTIONS: dict[str, Option] = {
    "model": Option("Hugging Face model id, a name from the models map, or a folder inside the project", "MODEL"),
    "revision": Option("branch, tag or commit of the model", "REV"),
    "layer": Option("layer index (0-based), negative index, 'last' or 'all'", "LAYER"),
    "head": Option("head index (0-based), 'mean', 'max' or 'all'", "HEAD"),
    "pair": Option("second sentence of a sentence pair", "TEXT"),
    "caption": Option("caption text", "TEXT"),
    "height": Option("figure height in pixels", "PX"),
    "id": Option("HTML id of the figure", "ID"),
    "max_tokens": Option("maximum number of tokens", "N"),
    "special_tokens": Option("'show', 'hide' or 'hide-raw'", "MODE"),
    "view": Option(", ".join(f"'{name}'" for name in views.NAMES[:-1]) + f" or '{views.NAMES[-1]}'", "VIEW"),
    "values": Option("'auto', 'true' or 'false': numbers in the heatmap cells", "WHEN"),
    "colormap": Option("colour map name", "NAME"),
    "style": Option("'default' or 'classic' (the matplotlib recipe)", "STYLE"),
    "query": Option("query token (index or text) for bars and neuron views", "TOKEN"),
    "target": Option("decoder text of an encoder-decoder model", "TEXT"),
    "max_new_tokens": Option("tokens generated when target is absent", "N"),
    "attention": Option("'encoder', 'decoder' or 'cross'", "SET"),
    "data": Option("a .npy, .csv or .json attention matrix inside the project", "FILE"),
    "tokens": Option("tokens of the data matrix", "TOKENS"),
    "theme": Option("'auto', 'light' or 'dark'", "THEME"),
    "lang": Option("language of the figure's words: " + ", ".join(LANGUAGES) + " (default: the site's)", "LANG"),
    "font": Option("font for the PNG labels", "FONT"),
    "filter": Option("segment filter of a sentence pair: 'all', 'AA', 'AB', 'BA', 'BB'", "FILTER"),
    "aggregate": Option("'none', 'rollout' or 'flow' (attention up to each layer)", "HOW"),
    "granularity": Option("'token' or 'word' (subwords merged into words)", "UNIT"),
    "compare": Option("'layer:N', 'head:N', 'text:SENTENCE' or 'model:NAME'", "WHAT"),
    "generate": Option("tokens a causal model generates after the sentence", "N"),
}

VIEWS = views.NAMES  # one registry: mkdocs_attnviz.views
AGGREGATES = ("none", "rollout", "flow")
GRANULARITIES = ("token", "word")
COMPARE_KINDS = ("layer", "head", "text", "model")
VALUES = ("auto", "true", "false")
STYLES = ("default", "classic")
ATTENTION_SETS = ("encoder", "decoder", "cross")
THEMES = ("auto", "light", "dark")
FILTERS = ("all", "aa", "ab", "ba", "bb")
#: colour maps offered (lower-case name -> matplotlib name); Bokeh gets the same 256 colours
COLORMAPS = {"viridis": "viridis", "magma": "magma", "inferno": "inferno", "plasma": "plasma",
             "cividis": "cividis", "blues": "Blues", "greens": "Greens", "greys": "Greys", "oranges": "Oranges",
             "purples": "Purples", "reds": "Reds", "ylorrd": "YlOrRd", "ylgnbu": "YlGnBu"}
MAX_NEW_TOKENS_LIMIT = 256
DATA_SUFFIXES = (".npy", ".csv", ".json")
SPECIAL = ("show", "hide", "hide-raw")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_TOKENS_LIMIT = 16384  # long inputs are kept one layer at a time (attention.LONG_TOKENS)


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
    values: str = "auto"
    colormap: str = "viridis"
    style: str = "default"
    query: int | str | None = None  # index (may be negative) or the text of a token
    target: str | None = None
    max_new_tokens: int = 20
    attention: str | None = None  # encoder | decoder | cross (encoder-decoder models)
    data: str | None = None  # as written; a host resolves it to a file (see datafile)
    tokens: tuple[str, ...] | None = None
    theme: str = "auto"
    lang: str | None = None  # None: the site's language (the pipeline fills it in before keying the figure)
    font: str | None = None
    filter: str = "all"
    aggregate: str = "none"
    granularity: str = "token"
    compare: tuple[str, int | str] | None = None  # ("layer", 3), ("head", "mean"), ("text", "..."), ("model", "...")
    generate: int | None = None

    def extraction_inputs(self) -> dict[str, Any]:
        """The options that change the extracted attention (and so the extraction cache key)."""
        out = {"model": self.model, "revision": self.revision, "text": self.text, "pair": self.pair,
               "max_tokens": self.max_tokens}
        # only when they matter, so that the keys of plain figures stay what they were
        if self.target is not None:
            out["target"] = self.target
        elif self.max_new_tokens != 20:  # the default greedy length stays out of the key
            out["max_new_tokens"] = self.max_new_tokens
        if self.data is not None:
            out["data"] = self.data
            out["tokens"] = list(self.tokens) if self.tokens is not None else None
        if self.generate is not None:
            out["generate"] = self.generate
        return out

    def render_options(self) -> dict[str, Any]:
        """The options that change the rendered figure but not the extracted attention."""
        return {"layer": self.layer, "head": self.head, "caption": self.caption, "height": self.height,
                "id": self.id, "special_tokens": self.special_tokens, "view": self.view, "values": self.values,
                "colormap": self.colormap, "style": self.style, "query": self.query, "attention": self.attention,
                "theme": self.theme, "font": self.font, "filter": self.filter,
                # only when set, so that the keys of plain figures stay what they were
                **({"aggregate": self.aggregate} if self.aggregate != "none" else {}),
                **({"granularity": self.granularity} if self.granularity != "token" else {}),
                **({"compare": f"{self.compare[0]}:{self.compare[1]}"} if self.compare else {}),
                **({"lang": self.lang} if self.lang not in (None, "en") else {})}


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
        raise AttnvizError(f"expected one of {', '.join(choices)}, got {value!r}{did_you_mean(v, choices)}",
                           option=option)
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
                raise AttnvizError(f"unknown option (known options: {known}){did_you_mean(key, OPTIONS)}",
                                   option=key)
            merged[key] = value if isinstance(value, str) else str(value)

    data = merged.get("data")
    tokens = None
    if "tokens" in merged:
        raw = merged["tokens"]
        parts = raw.split("|") if "|" in raw else raw.split()
        tokens = tuple(p.strip() for p in parts)
        if not tokens or any(not p for p in tokens):
            raise AttnvizError("expected tokens separated by spaces (or by '|'), with no empty token", option="tokens")
        _clean_text(" ".join(tokens), "tokens")
        if data is None:
            raise AttnvizError("tokens= only goes with data= (a model makes its own tokens)", option="tokens")
    if data is not None:
        data = data.strip()
        if not data:
            raise AttnvizError("is empty: name a .npy, .csv or .json file", option="data")
        if not data.lower().endswith(DATA_SUFFIXES):
            raise AttnvizError(f"expected a .npy, .csv or .json file, got {data!r}", option="data")
        if "\0" in data or any(ord(c) < 32 for c in data):
            raise AttnvizError("contains a control character", option="data")
    if body is None or not body.strip():
        if data is None or tokens is None:
            raise AttnvizError("the block has no sentence: write it on the lines below the fence header",
                               option="text")
        body = " ".join(tokens)
    text = _clean_text(body, "text")

    model = merged.get("model", "").strip()
    if data is not None:
        model = ""  # a data figure needs no model (a site-wide default model is ignored)
        for key in ("revision", "pair", "target", "max_new_tokens", "attention", "max_tokens"):
            if key in options:
                raise AttnvizError("does not apply to data= figures (they have no model)", option=key)
    elif not model:
        raise AttnvizError("no model given: add model=\"...\" or set it in the site's defaults", option="model")

    kw: dict[str, Any] = {"model": model, "text": text}
    if data is not None:
        kw["data"] = data
        kw["tokens"] = tokens
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
    if "values" in merged:
        v = str(merged["values"]).strip().lower()
        v = {"yes": "true", "on": "true", "1": "true", "no": "false", "off": "false", "0": "false"}.get(v, v)
        kw["values"] = _choice(v, "values", VALUES)
    if "colormap" in merged:
        kw["colormap"] = _choice(merged["colormap"], "colormap", tuple(COLORMAPS))
    if "style" in merged:
        kw["style"] = _choice(merged["style"], "style", STYLES)
    if "query" in merged:
        q = merged["query"].strip()
        if not q:
            raise AttnvizError("is empty: give a token index or the token's text", option="query")
        try:
            kw["query"] = int(q)
        except ValueError:
            kw["query"] = q
    if "target" in merged and data is None:
        kw["target"] = _clean_text(merged["target"], "target")
    if "max_new_tokens" in merged and data is None:
        kw["max_new_tokens"] = _int(merged["max_new_tokens"], "max_new_tokens", minimum=1,
                                    maximum=MAX_NEW_TOKENS_LIMIT)
    if "attention" in merged and data is None:
        kw["attention"] = _choice(merged["attention"], "attention", ATTENTION_SETS)
    if "theme" in merged:
        kw["theme"] = _choice(merged["theme"], "theme", THEMES)
    if "lang" in merged:
        kw["lang"] = normalize(merged["lang"], option="lang")
    if "font" in merged:
        font = merged["font"].strip()
        if not font or any(ord(c) < 32 for c in font) or len(font) > 200:
            raise AttnvizError(f"not a font family or file: {merged['font']!r}", option="font")
        kw["font"] = font
    if "filter" in merged:
        f = str(merged["filter"]).strip().lower().replace("->", "").replace("→", "")
        kw["filter"] = _choice(f, "filter", FILTERS)
        if kw["filter"] != "all" and "pair" not in kw:
            raise AttnvizError("a segment filter needs a sentence pair (pair=\"...\")", option="filter")
    if "aggregate" in merged:
        kw["aggregate"] = _choice(merged["aggregate"], "aggregate", AGGREGATES)
        if kw["aggregate"] != "none" and isinstance(kw.get("head"), int):
            raise AttnvizError(f"{kw['aggregate']} fuses the heads of each layer: use head=\"mean\" (the paper's "
                               "choice) or \"max\"", option="head")
    if "granularity" in merged:
        kw["granularity"] = _choice(merged["granularity"], "granularity", GRANULARITIES)
    if "compare" in merged:
        kw["compare"] = parse_compare(merged["compare"])
        if kw["compare"][0] == "model" and data is not None:
            raise AttnvizError("compare=\"model:...\" needs a model, not data=", option="compare")
        if kw.get("view", "heatmap") != "heatmap":
            raise AttnvizError("the comparison is its own figure: leave view= out", option="compare")
    if "generate" in merged:
        if data is not None:
            raise AttnvizError("does not apply to data= figures (they have no model)", option="generate")
        kw["generate"] = _int(merged["generate"], "generate", minimum=1, maximum=MAX_NEW_TOKENS_LIMIT)
        if "pair" in kw:
            raise AttnvizError("generation continues one sentence: it does not go with pair=", option="generate")
    return FigureSpec(**kw)


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
        return kind, _clean_text(rest, "compare")
    if any(c.isspace() for c in rest) or any(ord(c) < 32 for c in rest):
        raise AttnvizError(f"not a model name: {rest!r}", option="compare")
    return kind, rest
