"""The ```` ```attnviz ```` fence: a pymdownx.superfences custom fence and a Python-Markdown extension.

This is the feature; the hosts only configure it:

* MkDocs: ``plugins: [attnviz]`` (:mod:`mkdocs_attnviz.plugin` adds everything below by itself);
* Zensical: one ``[project.markdown_extensions.attnviz]`` table in ``zensical.toml`` (the extension learns the
  project and the page from Zensical, :mod:`mkdocs_attnviz.zensical`, and carries each figure inside its page,
  :mod:`mkdocs_attnviz.inline`);
* plain Python-Markdown: the extension, with the folder the figure files go to and its URL from the page::

      markdown.Markdown(extensions=["pymdownx.superfences", AttnvizExtension(output_dir="site/assets/attnviz",
                                                                              url="assets/attnviz/")])

The extension registers the ``attnviz`` fence with superfences itself, whatever ``custom_fences`` the site has
(listing :data:`FENCE` there too, as earlier versions asked, does no harm). It scans the page for ``attnviz`` fences
before anything else touches it, so every message names the page and the line of the block and the option at
fault, and a block whose header superfences could not read (an unterminated quote, say) is reported instead of
silently vanishing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from typing import Any

from markdown import Extension, Markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from pymdownx.superfences import SuperFencesCodeExtension, SuperFencesException

from .errors import AttnvizError
from .logs import logger as log
from .spec import build_spec, parse_header

__all__ = ["AttnvizExtension", "AttnvizFenceError", "FENCE", "validator", "formatter", "makeExtension"]

#: what a host passes to the extension besides the site's keys (those of SETTINGS, and ``enabled``)
_HOST_KEYS = ("builder", "output_dir", "url", "page", "page_dir", "root", "docs_dir")

_OPEN_RE = re.compile(r"^(?P<prefix>[> \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w#.+-]*)(?P<rest>.*)$")


class AttnvizFenceError(SuperFencesException):
    """Raised through superfences (which swallows every other exception) when ``on_error`` is ``fail``."""


@dataclasses.dataclass
class Block:
    """Where one ``attnviz`` fence sits in the page source."""

    line: int  # 1-based line of the opening fence
    header: str  # everything after the word attnviz
    body: str
    used: bool = False
    index: int = 0  # its place among the page's blocks (the token its opening line is rewritten to carry)

    @property
    def key(self) -> str:
        # Python-Markdown drops STX/ETX (its placeholder markers) from the source before superfences sees it
        return " ".join(self.body.replace("\x02", "").replace("\x03", "").split())


def scan(lines: list[str]) -> list[Block]:
    """Find every ``attnviz`` fence in ``lines`` (skipping fences inside other fences)."""
    blocks: list[Block] = []
    i, n = 0, len(lines)
    while i < n:
        m = _OPEN_RE.match(lines[i])
        if not m or m.group("fence")[0] == "`" and "`" in m.group("rest"):
            i += 1
            continue
        fence, prefix = m.group("fence"), m.group("prefix")
        close = re.compile(r"^[> \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        j = i + 1
        while j < n and not close.match(lines[j]):
            j += 1
        if m.group("lang") == "attnviz":
            body = [_strip_prefix(line, prefix) for line in lines[i + 1:j]]
            blocks.append(Block(line=i + 1, header=m.group("rest").strip(), body="\n".join(body), index=len(blocks)))
        i = j + 1
    return blocks


#: the one option the opening line of a block carries once the page is scanned
_TOKEN = "attnviz_block"


def rewrite(lines: list[str], blocks: list[Block]) -> list[str]:
    """Give each block's opening line a header superfences always accepts: ``attnviz attnviz_block="N"``.

    Superfences checks a header with its own pattern before any validator sees it (a bare value such as
    ``layer=0`` fails it) and leaves a fence it rejects to Markdown: the block and what follows it up to the next
    fence become one paragraph, and the header's text reaches the page. Our parser reads the header instead
    (:func:`mkdocs_attnviz.spec.parse_header`, bare values included), and a header it cannot read becomes an error
    box where the block was."""
    out = list(lines)
    for block in blocks:
        m = _OPEN_RE.match(out[block.line - 1])
        out[block.line - 1] = f'{m.group("prefix")}{m.group("fence")}attnviz {_TOKEN}="{block.index}"'
    return out


def _strip_prefix(line: str, prefix: str) -> str:
    k = 0
    while k < len(prefix) and k < len(line) and line[k] in "> \t":
        k += 1
    return line[k:]


class _ScanPreprocessor(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        state = _state(self.md)
        _register_fence(self.md)
        state.ext.begin_page(self.md, lines)
        state.blocks = scan(lines)
        state.scanned = True
        state.tree_done = False
        state.styled = state.bokehjs = False
        return rewrite(lines, state.blocks)


def _register_fence(md: Markdown) -> None:
    """Add the ``attnviz`` fence to superfences, whatever the site's ``custom_fences`` (by the time a page is
    converted, every extension is loaded, in whichever order the site listed them)."""
    for ext in md.registeredExtensions:
        if isinstance(ext, SuperFencesCodeExtension):
            if not any(entry.get("name") == "attnviz" for entry in ext.superfences):
                ext.extend_super_fences("attnviz", _fence_formatter, _fence_validator, _fence_reset)
            return


def _fence_validator(language: str, inputs: dict[str, str], options: dict[str, Any], attrs: dict[str, Any],
                     md: Markdown) -> bool:
    md.preprocessors["fenced_code_block"].get_hl_settings()  # as superfences does before each validator
    return validator(language, inputs, options, attrs, md)


def _fence_formatter(src: str = "", language: str = "", options: dict[str, Any] | None = None,
                     md: Markdown | None = None, **kwargs: Any) -> str:
    return formatter(src, language, "attnviz", options or {}, md, **kwargs)


def _fence_reset(md: Markdown) -> None:
    pass


class _TreeDoneTreeprocessor(Treeprocessor):
    """Runs after every other treeprocessor: marks that the postprocessors now get the whole page."""

    def run(self, root: Any) -> None:
        _state(self.md).tree_done = True


class _LeftoverPostprocessor(Postprocessor):
    """Report fences that superfences did not hand to us (their header could not be read)."""

    def run(self, text: str) -> str:
        state = _state(self.md)
        if not state.tree_done:
            # Python-Markdown's toc runs every postprocessor on the text of each heading while the tree is
            # still being processed: report only once, on the page itself
            return text
        for block in state.blocks:
            if block.used:
                continue
            block.used = True
            try:
                parse_header(block.header)
                problem = AttnvizError("the block was not rendered: its header could not be read "
                                       "(write options as key=\"value\" separated by spaces)")
            except AttnvizError as exc:
                problem = exc
            _count_rejected(state.ext)
            _report(state, problem.located(state.ext.page, block.line + state.ext.line_offset))
            text += "\n" + _page_assets(state) + state.ext.builder_or_none_error_html(problem)
        return text


@dataclasses.dataclass
class _PageState:
    ext: "AttnvizExtension"
    blocks: list[Block] = dataclasses.field(default_factory=list)
    scanned: bool = False
    tree_done: bool = False  # set after the last treeprocessor: postprocessors now see the whole page
    carrier: Any = None  # figures carried in the page: what it holds already (mkdocs_attnviz.inline.Carrier)


def _state(md: Markdown) -> _PageState:
    state = getattr(md, "attnviz_state", None)
    if state is None:
        ext = AttnvizExtension()
        ext.extendMarkdown(md)  # bare custom-fence use: register ourselves for the next pages
        state = md.attnviz_state  # type: ignore[attr-defined]
    return state


class AttnvizExtension(Extension):
    """Python-Markdown extension: page scanning, settings and publishing for the ``attnviz`` fence.

    Config: ``output_dir`` (folder the figure files are written to; the MkDocs plugin publishes them
    itself), ``url`` (URL of that folder as seen from the page), ``page`` (name used in messages),
    ``root`` (the project folder relative paths are taken from; default: the current folder), ``docs_dir``,
    and every key of :data:`~mkdocs_attnviz.settings.SETTINGS` (``cache_dir``, ``models``, ``defaults``…).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.host_keys = sorted(k for k in _HOST_KEYS if k in kwargs)  # given by the host, not by the site
        self.enabled: bool = kwargs.pop("enabled", True)
        self.builder = kwargs.pop("builder", None)
        self.output_dir: str | None = kwargs.pop("output_dir", None)
        self.url: str = kwargs.pop("url", "")
        self.page: str | None = kwargs.pop("page", None)
        self.page_dir: str | None = kwargs.pop("page_dir", None)  # absolute folder of the page (data= files)
        self.line_offset: int = 0
        self.inline = False  # figures carried in the page (Zensical, a one-file report), not published as files
        self.styled = False  # ... in a page whose template has attnviz.css already (the report)
        self.lock: Any = contextlib.nullcontext()
        self._settings = kwargs
        self.config = {}
        super().__init__()

    def begin_page(self, md: Markdown, lines: list[str]) -> None:
        """Before a page is converted: under Zensical, learn the project and the page from its rendering context."""
        from .zensical import zensical_page

        values = {k: v for k, v in self._settings.items() if k not in _HOST_KEYS}
        context = zensical_page(md, lines, values, self.host_keys)
        if context is not None:
            self.builder, self.lock, self.inline = context.builder, context.lock, True
            self.page, self.page_dir, self.line_offset = context.page, context.page_dir, context.line_offset

    def get_builder(self):
        if self.builder is None:
            from .pipeline import FigureBuilder
            from .settings import build_settings

            values = dict(self._settings)
            root = values.pop("root", None) or os.getcwd()
            docs_dir = values.pop("docs_dir", None)
            self.builder = FigureBuilder(build_settings(values, root, docs_dir=docs_dir))
        return self.builder

    def builder_or_none_error_html(self, error: AttnvizError) -> str:
        try:
            return self.get_builder().error_html(error)
        except Exception:  # the error box must appear even if the builder itself cannot start
            from html import escape

            return f'<div class="attnviz-error" role="alert"><p><code>{escape(str(error))}</code></p></div>'

    def extendMarkdown(self, md: Markdown) -> None:
        if self.enabled is False:  # `enabled = false`: the blocks stay code blocks
            return
        md.registerExtension(self)
        md.attnviz_state = _PageState(ext=self)  # type: ignore[attr-defined]
        # before normalize_whitespace (30), snippets (32) and superfences (25) change the lines
        md.preprocessors.register(_ScanPreprocessor(md), "attnviz_scan", 40)
        md.treeprocessors.register(_TreeDoneTreeprocessor(md), "attnviz_tree_done", -1000)
        md.postprocessors.register(_LeftoverPostprocessor(md), "attnviz_leftover", 0)

    def reset(self) -> None:
        pass


def makeExtension(**kwargs: Any) -> AttnvizExtension:  # noqa: N802 (Python-Markdown's name)
    return AttnvizExtension(**kwargs)


def validator(language: str, inputs: dict[str, str], options: dict[str, Any], attrs: dict[str, Any],
              md: Markdown) -> bool:
    """Superfences validator: accept every header; the formatter validates with our own parser."""
    options.update(inputs)
    return True


def _find_block(state: _PageState, md: Markdown, source: str, options: dict[str, str]) -> Block | None:
    token = options.get(_TOKEN)
    if state.scanned and token is not None and len(options) == 1:  # a line rewritten by the scan: the block itself
        block = state.blocks[int(token)] if token.isdigit() and int(token) < len(state.blocks) else None
        if block is not None and not block.used:
            block.used = True
            return block
    if not state.scanned:  # used as a bare custom fence on the first page: best effort from md.lines
        state.blocks = scan(list(getattr(md, "lines", None) or []))
        state.scanned = True
    wanted = " ".join(source.split())
    candidates = [b for b in state.blocks if not b.used and b.key == wanted]
    for block in candidates:
        try:
            if parse_header(block.header) == options:
                block.used = True
                return block
        except AttnvizError:
            pass
    if candidates:
        candidates[0].used = True
        return candidates[0]
    return None


def _count_rejected(ext: "AttnvizExtension") -> None:
    if ext.builder is not None:
        ext.builder.rejected()


def _report(state: _PageState, error: AttnvizError) -> None:
    log.warning("attnviz: %s", error)
    builder = state.ext.builder
    on_error = builder.settings.on_error if builder is not None else state.ext._settings.get("on_error", "warn")
    if on_error == "fail":
        raise AttnvizFenceError(str(error))


def formatter(source: str, language: str, css_class: str, options: dict[str, Any], md: Markdown,
              **kwargs: Any) -> str:
    """Superfences formatter: build the figure and return its HTML (or an error box)."""
    state = _state(md)
    ext = state.ext
    block = _find_block(state, md, source, options)
    line = block.line + ext.line_offset if block else None
    building = False  # until build() is asked: a failure is a block the parser rejected (counted here)
    try:
        header = parse_header(block.header) if block else {k: str(v) for k, v in options.items()}
        builder = ext.get_builder()
        spec = build_spec(header, source, defaults=builder.settings.defaults)
        building = True
        with ext.lock:
            figure = builder.build(spec, page_dir=ext.page_dir, where=(ext.page, line))
            if ext.inline:  # no publish() to keep the file hashes for the next build
                builder.save_hash_memo()
        for warning in figure.warnings:
            log.warning("attnviz: %s", warning.located(ext.page, line))
        if ext.inline:
            return _carrier(state).figure(builder, figure)
        if ext.output_dir:
            builder.publish(ext.output_dir, keys=[figure.key])
        return builder.embed_html(figure, ext.url)
    except AttnvizFenceError:
        raise
    except AttnvizError as exc:
        error = exc.located(ext.page, line)
    except Exception as exc:  # a bug of ours or of a library: still a located message, never swallowed
        log.debug("attnviz: unexpected error", exc_info=True)
        error = AttnvizError(f"unexpected {type(exc).__name__}: {exc}").located(ext.page, line)
    if not building:
        _count_rejected(ext)
    _report(state, error)
    return _page_assets(state) + ext.builder_or_none_error_html(error)


def _carrier(state: _PageState):
    if state.carrier is None:
        from .inline import Carrier

        state.carrier = Carrier(styled=state.ext.styled)
    return state.carrier


def _page_assets(state: _PageState) -> str:
    """For figures carried in the page: the stylesheet, put once before the page's first attnviz output."""
    return _carrier(state).assets() if state.ext.inline else ""


#: the superfences custom-fence entry
FENCE: dict[str, Any] = {"name": "attnviz", "class": "attnviz", "validator": validator, "format": formatter}
