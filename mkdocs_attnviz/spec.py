"""Directive options: one table, one parser for every host.

A figure is described by a header of ``key="value"`` options and a body (the sentence). The MkDocs /
Python-Markdown fence, the Sphinx directive and the CLI all turn what the author wrote into a
:class:`FigureSpec` through :func:`parse_header` and :func:`build_spec`, so every host accepts exactly
the same values and reports the same messages.

Each option is declared once, in :data:`OPTIONS`: its parser, default, help, docs and its *stage* — what it changes:
``extraction`` (the attention the model computes: the extraction cache key, and so the render key),
``render`` (the figure's files: the render cache key) or ``page`` (only the host page: no cache key). The fields of
:class:`FigureSpec`, both cache keys (:meth:`FigureSpec.extraction_inputs`, :meth:`FigureSpec.render_options`), the
``attnviz render`` flags (``cli.parser``) and the table of ``docs/reference.md`` (:func:`reference_table`) are made
from it. What depends on several options at once is checked in :func:`check_together`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping

from . import views
from .errors import AttnvizError, did_you_mean
from .i18n import LANGUAGES, normalize
from .parsing import (clean_text, parse_choice, parse_compare, parse_head, parse_header, parse_int,
                      parse_layer)

__all__ = ["FigureSpec", "Option", "OPTIONS", "STAGES", "parse_header", "build_spec", "check_together", "parse_layer",
           "parse_head", "COLORMAPS", "parse_compare", "VIEWS", "reference_table"]

VIEWS = views.NAMES  # one registry: mkdocs_attnviz.views
AGGREGATES = ("none", "rollout", "flow")
GRANULARITIES = ("token", "word")
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
MAX_TOKENS_LIMIT = 16384  # long inputs are kept one layer at a time (attention.LONG_TOKENS)
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
#: what an option changes: the extracted attention, the rendered figure, or only the host page
STAGES = ("extraction", "render", "page")

Parser = Callable[[str, str], Any]  # (value as written, option name) -> value


# -- parsers of single values (each names its option in its messages) ------------------------------------------------
def _choice(*choices: str) -> Parser:
    return lambda value, name: parse_choice(value, name, choices)


def _whole(minimum: int, maximum: int) -> Parser:
    return lambda value, name: parse_int(value, name, minimum=minimum, maximum=maximum)


def _revision(value: str, name: str) -> str:
    rev = value.strip()
    if not rev or any(c.isspace() for c in rev):
        raise AttnvizError(f"not a valid revision: {value!r}", option=name)
    return rev


def _id(value: str, name: str) -> str:
    if not _ID_RE.match(value):
        raise AttnvizError("must start with a letter and hold only letters, digits, '-' and '_' (64 at most)",
                           option=name)
    return value


def _yes_no(value: str) -> str:
    v = str(value).strip().lower()
    return {"yes": "true", "on": "true", "1": "true", "no": "false", "off": "false", "0": "false"}.get(v, v)


def _values(value: str, name: str) -> str:
    return parse_choice(_yes_no(value), name, VALUES)


def _query(value: str, name: str) -> int | str:
    q = value.strip()
    if not q:
        raise AttnvizError("is empty: give a token index or the token's text", option=name)
    try:
        return int(q)
    except ValueError:
        return q


def _data(value: str, name: str) -> str:
    data = value.strip()
    if not data:
        raise AttnvizError("is empty: name a .npy, .csv or .json file", option=name)
    if not data.lower().endswith(DATA_SUFFIXES):
        raise AttnvizError(f"expected a .npy, .csv or .json file, got {data!r}", option=name)
    if "\0" in data or any(ord(c) < 32 for c in data):
        raise AttnvizError("contains a control character", option=name)
    return data


def _tokens(value: str, name: str) -> tuple[str, ...]:
    parts = value.split("|") if "|" in value else value.split()
    tokens = tuple(p.strip() for p in parts)
    if not tokens or any(not p for p in tokens):
        raise AttnvizError("expected tokens separated by spaces (or by '|'), with no empty token", option=name)
    clean_text(" ".join(tokens), name)
    return tokens


def _font(value: str, name: str) -> str:
    font = value.strip()
    if not font or any(ord(c) < 32 for c in font) or len(font) > 200:
        raise AttnvizError(f"not a font family or file: {value!r}", option=name)
    return font


def _bool(value: str, name: str) -> bool:
    return parse_choice(_yes_no(value), name, ("true", "false")) == "true"


def _filter(value: str, name: str) -> str:
    return parse_choice(str(value).strip().lower().replace("->", "").replace("→", ""), name, FILTERS)


def _code_list(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


@dataclasses.dataclass(frozen=True)
class Option:
    """One directive option, declared once: its value (parser, type, default), what it changes (stage), and how it
    is explained (help and metavar of its ``attnviz render`` flag, the two cells of the docs table)."""

    help: str
    metavar: str
    stage: str
    parse: Parser
    type: str = "str | None"
    default: Any = None
    values: str = ""  # the docs table's "values" cell (Markdown)
    default_doc: str = "—"  # the docs table's "default" cell (Markdown)
    key_omit: tuple = ()  # values left out of the cache key, so that the keys of plain figures stay what they were
    key_value: Callable[[Any], Any] | None = None  # how a value enters the key (default: as it is)
    applies: Callable[[Any], bool] | None = None  # whether it means anything for a spec (else it stays out of the key)
    model_only: bool = False  # refused by data= figures (they have no model); dropped there from the site defaults

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage {self.stage!r} is not one of {STAGES}")

    def flag(self, name: str) -> str:
        """The ``attnviz render`` flag of the option: ``max_tokens`` → ``--max-tokens``."""
        return "--" + name.replace("_", "-")


E, R = "extraction", "render"

#: every option a block may carry: the MkDocs/Markdown fence, the Sphinx directive, every ``attnviz render``
#: flag, the fields of :class:`FigureSpec`, the cache keys and the docs table are made from this one table
OPTIONS: dict[str, Option] = {
    "model": Option("Hugging Face model id, a name from the models map, or a folder inside the project", "MODEL", E,
                    lambda value, name: value.strip(), "str", "",
                    "Hugging Face id, a name from the `models:` map, or a folder inside the project (`./models/x`)",
                    "from `defaults`"),
    "revision": Option("branch, tag or commit of the model", "REV", E, _revision,
                       values="branch, tag or commit of a hub model", default_doc="the model's default",
                       model_only=True),
    "layer": Option("layer index (0-based), negative index, 'last' or 'all'", "LAYER", R,
                    lambda value, name: parse_layer(value), "int | str", "last",
                    "index from 0, negative index from the end (`-1` is the last), `last`, `all`", "`last`"),
    "head": Option("head index (0-based), 'mean', 'max' or 'all'", "HEAD", R, lambda value, name: parse_head(value),
                   "int | str", "mean", "index from 0, `mean`, `max`, `all`", "`mean`"),
    "pair": Option("second sentence of a sentence pair", "TEXT", E, clean_text,
                   values="a second sentence, for sentence-pair input", model_only=True),
    "caption": Option("caption text", "TEXT", R, lambda value, name: value.strip() or None,
                      values="caption text; the model, layer and heads shown are always added"),
    "height": Option("figure height in pixels", "PX", R, _whole(100, 4000), "int | None",
                     values="figure height in CSS pixels, 100 to 4000", default_doc="fitted to the number of tokens"),
    "id": Option("HTML id of the figure", "ID", R, _id,
                 values="HTML id of the `<figure>`: a letter, then letters, digits, `-`, `_`"),
    "max_tokens": Option("maximum number of tokens", "N", E, _whole(2, MAX_TOKENS_LIMIT), "int | None",
                         values="truncate the input to this many tokens (at most 16,384); a warning says so. From "
                         "1,024 tokens the figure is a [long input](views/llms.md#long-inputs)",
                         default_doc="the model's limit", model_only=True),
    "special_tokens": Option("'show', 'hide' or 'hide-raw'", "MODE", R, _choice(*SPECIAL), "str", "show",
                             "`show`, `hide` (drop special tokens and renormalise each row), or `hide-raw` (drop "
                             "them, rows as they are)", "`show`"),
    "view": Option(", ".join(f"'{name}'" for name in VIEWS[:-1]) + f" or '{VIEWS[-1]}'", "VIEW", R, _choice(*VIEWS),
                   "str", "heatmap", _code_list(VIEWS) + " (see [Views](views/index.md))", "`heatmap`"),
    "values": Option("'auto', 'true' or 'false': numbers in the heatmap cells", "WHEN", R, _values, "str", "auto",
                     "numbers written in the heatmap cells: `auto` (up to 20 tokens), `true`, `false`", "`auto`"),
    "colormap": Option("colour map name", "NAME", R, _choice(*COLORMAPS), "str", "viridis", _code_list(COLORMAPS),
                       "`viridis`"),
    "style": Option("'default' or 'classic' (the matplotlib recipe)", "STYLE", R, _choice(*STYLES), "str", "default",
                    "`default`, or `classic`: the PNG drawn with the literal matplotlib recipe (8×6 in, viridis, "
                    "labels at 45°)", "`default`"),
    "query": Option("query token (index or text) for bars and neuron views", "TOKEN", R, _query, "int | str | None",
                    values="query token of the `bars` and `neuron` views: index, negative index, or the token's text",
                    default_doc="`bars`: all (attention received); `neuron`: 0"),
    "target": Option("decoder text of an encoder-decoder model", "TEXT", E, clean_text,
                     values="decoder text of an encoder–decoder model (teacher-forced)",
                     default_doc="greedy generation", key_omit=(None,), model_only=True),
    "max_new_tokens": Option("tokens generated when target is absent", "N", E, _whole(1, MAX_NEW_TOKENS_LIMIT), "int",
                             20, "tokens generated when `target` is absent (1–256)", "`20`", key_omit=(20,),
                             applies=lambda spec: spec.target is None, model_only=True),
    "attention": Option("'encoder', 'decoder' or 'cross'", "SET", R, _choice(*ATTENTION_SETS),
                        values="`encoder`, `decoder` or `cross` (encoder–decoder models; cross is target × source)",
                        default_doc="`encoder`", model_only=True),
    "data": Option("a .npy, .csv or .json attention matrix inside the project", "FILE", E, _data,
                   values="a `.npy`, `.csv` or `.json` matrix (or layers × heads stack) inside the project, instead "
                   "of a model", key_omit=(None,)),
    "tokens": Option("tokens of the data matrix", "TOKENS", E, _tokens, "tuple[str, ...] | None",
                     values="the tokens of `data`, separated by spaces (or by `\\|` when a token holds a space)",
                     default_doc="the sentence split at spaces", key_omit=(None,), key_value=list),
    "theme": Option("'auto', 'light' or 'dark'", "THEME", R, _choice(*THEMES), "str", "auto",
                    "`auto` (follow the site's light/dark scheme), `light`, `dark`", "`auto`"),
    "lang": Option("language of the figure's words: " + ", ".join(LANGUAGES) + " (default: the site's)", "LANG", R,
                   lambda value, name: normalize(value, option=name),
                   values="language of the figure's words: `en`, `ja`, `zh` (Simplified), `ko`, `de`, `fr`, `es`; "
                   "tokens are never translated", default_doc="the site's language", key_omit=(None, "en")),
    "font": Option("font for the PNG labels", "FONT", R, _font,
                   values="font family or font file (`.ttf`/`.otf`: relative to the page, then the docs folder, or an "
                          "absolute path inside the project) for this figure's PNG labels; a family not installed is "
                          "one warning (`option 'font'`)", default_doc="the plugin's `font`"),
    "filter": Option("segment filter of a sentence pair: 'all', 'AA', 'AB', 'BA', 'BB'", "FILTER", R, _filter, "str",
                     "all", "initial segment filter of a sentence pair in the head view: `all`, `AA`, `AB`, `BA`, "
                     "`BB`", "`all`"),
    "aggregate": Option("'none', 'rollout' or 'flow' (attention up to each layer)", "HOW", R, _choice(*AGGREGATES),
                        "str", "none", "`none` (the raw weights), `rollout` or `flow` (Abnar & Zuidema 2020): the "
                        "layer axis becomes \"up to layer l\", heads fused with `head=\"mean\"` (or `max`); flow only "
                        "for short inputs (see [Beyond raw weights](analysis.md))", "`none`", key_omit=("none",)),
    "granularity": Option("'token' or 'word' (subwords merged into words)", "UNIT", R, _choice(*GRANULARITIES), "str",
                          "token", "`token`, or `word`: subword pieces merged into words (attention to a word summed "
                          "over its pieces, from a word averaged; rows still sum to 1)", "`token`",
                          key_omit=("token",)),
    "compare": Option("'layer:N', 'head:N', 'text:SENTENCE' or 'model:NAME'", "WHAT", R,
                      lambda value, name: parse_compare(value), "tuple[str, int | str] | None",
                      values="`layer:N`, `head:N` (or `head:mean`/`head:max`), `text:SENTENCE`, `model:NAME`: A, B "
                      "on one colour scale and A − B on a diverging scale", key_omit=(None,),
                      key_value=lambda compare: f"{compare[0]}:{compare[1]}"),
    "generate": Option("tokens a causal model generates after the sentence", "N", E, _whole(1, MAX_NEW_TOKENS_LIMIT),
                       "int | None", values="causal language models: greedily generate this many tokens (1–256) "
                       "after the sentence, then show prompt + generated text (one teacher-forced pass)", key_omit=(None,),
                       model_only=True),
    "live": Option("'true' or 'false': a sentence box; the model runs in the reader's browser", "BOOL", R, _bool,
                   "bool", False, "`true`: the figure gets a sentence box — the reader's own sentence, the model run in "
                   "the reader's browser (see [Live figures](live.md)); `false`", "`false`", key_omit=(False,),
                   model_only=True),
}
del E, R


def _stage_inputs(spec: Any, stage: str) -> dict[str, Any]:
    out = {}
    for name, option in OPTIONS.items():
        value = getattr(spec, name)
        if option.stage != stage or value in option.key_omit or (option.applies and not option.applies(spec)):
            continue
        out[name] = option.key_value(value) if option.key_value and value is not None else value
    return out


class _SpecMethods:
    def extraction_inputs(self) -> dict[str, Any]:
        """The options that change the extracted attention (and so the extraction cache key): the text and every
        option of the extraction stage."""
        return {"text": self.text, **_stage_inputs(self, "extraction")}  # type: ignore[attr-defined]

    def render_options(self) -> dict[str, Any]:
        """The options that change the rendered figure but not the extracted attention: the render stage."""
        return _stage_inputs(self, "render")


#: everything that describes one figure, validated: the sentence and one field per option of :data:`OPTIONS`
FigureSpec = dataclasses.make_dataclass(
    "FigureSpec",
    [("model", "str"), ("text", "str")]
    + [(name, option.type, dataclasses.field(default=option.default, metadata={"option": option}))
       for name, option in OPTIONS.items() if name != "model"],
    bases=(_SpecMethods,), frozen=True, namespace={"__doc__": "Everything that describes one figure, validated."})
FigureSpec.__module__ = __name__


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

    data = "data" in merged
    kw: dict[str, Any] = {}
    for name, option in OPTIONS.items():
        if name not in merged or name == "model":
            continue
        if data and option.model_only:
            if name in options:
                raise AttnvizError("does not apply to data= figures (they have no model)", option=name)
            continue  # a site-wide default for models
        kw[name] = option.parse(merged[name], name)
    if body is None or not body.strip():
        if not data or "tokens" not in kw:
            raise AttnvizError("the block has no sentence: write it on the lines below the fence header",
                               option="text")
        body = " ".join(kw["tokens"])
    kw["text"] = clean_text(body, "text")
    kw["model"] = "" if data else OPTIONS["model"].parse(merged.get("model", ""), "model")  # data= needs no model
    check_together(kw)
    return FigureSpec(**kw)


def check_together(kw: dict[str, Any]) -> None:
    """What no option can check alone (``kw``: the parsed options of one block). Raises :class:`AttnvizError`."""
    data = kw.get("data")
    if "tokens" in kw and data is None:
        raise AttnvizError("tokens= only goes with data= (a model makes its own tokens)", option="tokens")
    if data is None and not kw["model"]:
        raise AttnvizError("no model given: add model=\"...\" or set it in the site's defaults", option="model")
    if kw.get("filter", "all") != "all" and "pair" not in kw:
        raise AttnvizError("a segment filter needs a sentence pair (pair=\"...\")", option="filter")
    if kw.get("aggregate", "none") != "none" and isinstance(kw.get("head"), int):
        raise AttnvizError(f"{kw['aggregate']} fuses the heads of each layer: use head=\"mean\" (the paper's "
                           "choice) or \"max\"", option="head")
    if "compare" in kw:
        if kw["compare"][0] == "model" and data is not None:
            raise AttnvizError("compare=\"model:...\" needs a model, not data=", option="compare")
        if kw.get("view", "heatmap") != "heatmap":
            raise AttnvizError("the comparison is its own figure: leave view= out", option="compare")
    if "generate" in kw and "pair" in kw:
        raise AttnvizError("generation continues one sentence: it does not go with pair=", option="generate")


def reference_table() -> str:
    """The option table of ``docs/reference.md`` (Markdown), made from :data:`OPTIONS`."""
    rows = ["| option | values | default |", "|---|---|---|"]
    rows += [f"| `{name}` | {option.values} | {option.default_doc} |" for name, option in OPTIONS.items()]
    return "\n".join(rows) + "\n"

