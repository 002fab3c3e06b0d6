"""The page shell: templates, one Jinja environment, escaping for ``<script>``, packed layers.

Every figure page (the Bokeh heatmap and the canvas views), the embed snippet a host puts in its page, the error
box and the CLI report are rendered from ``templates/`` through :func:`environment`. :func:`.assets.render_page` is the one
place that joins a view's CSS and JavaScript and fills the page template.
"""

from __future__ import annotations

import base64
import functools
import json
import pathlib
import re
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from ..errors import AttnvizError

__all__ = ["templates_dir", "environment", "asset_text", "script_json", "script_text", "style_text", "pack_layer",
           "unpack_layer", "pack_f32", "display_label", "markup", "side_script", "side_payload", "inline_sides",
           "HEADER_PX", "TICK_CHARS", "RENDER_VERSION"]

#: bump whenever a page or picture changes; part of every figure's cache key
RENDER_VERSION = "16"  # part of every figure's key: bumped whenever a figure's files change (16: small multiples of
# single heads coloured from the page's bytes (view-heatmap.js), no palette in a heatmap's payload; 15: the numbers in a
# PNG's cells drawn by one artist from strings rendered once, PNGs compressed at zlib level 3; 14: the heatmap's
# document draws RGBA that the page colours itself (image_rgba); 13: the head view's
# column headings, the neuron view and the head summary kept inside their canvas on a narrow frame; 12: the payload's
# `live` (LiveInfo or null) and a live figure's box, attnviz-live.js; 11: main's keyboard,
# alternatives and notebook themes on the page contract (Attnviz.keys, one client core); 10: the keyboard and screen
# readers (attnviz-keys.js, focus rings, text alternatives); 9: one page contract (every view's payload, the heatmap's
# controls by the client core), frames that fit and are released far from the reader, PNG titles and legends measured
# to fit, in every language; 8: a long input's PNG in its language's fonts; 7: shared scripts and styles linked, not
# inlined; 6: neuron view on every attention-interface model, long inputs' side files; 5: every word through the
# catalogues (lang); 4: one view registry)
#: height of a figure page's header line (title + selectors), in CSS px
HEADER_PX = 40
#: axis labels longer than this are shortened with an ellipsis (the tooltip shows all)
TICK_CHARS = 14


@functools.lru_cache(maxsize=None)
def templates_dir() -> pathlib.Path:
    """The folder holding the page templates and their CSS/JS (installed wheel first, then the checkout); looked
    for once a process (every figure and embed snippet asks for it)."""
    package = pathlib.Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "figure.html.jinja").is_file():
            return candidate
    raise AttnvizError("the mkdocs-attnviz templates are missing (figure.html.jinja not found): "
                       "reinstall the package")


@functools.lru_cache(maxsize=None)
def _environment(folder: str):
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                              undefined=jinja2.StrictUndefined, bytecode_cache=_bytecode_cache())


def _bytecode_cache():
    """The templates compiled once per machine (this machine's state folder, :func:`~mkdocs_attnviz.machine.state_dir`):
    compiling the embed snippet's template is most of what a warm build spends on its figures' snippets. Jinja names
    each entry by the template and checks it against the source's checksum, and writes it whole (a temporary file,
    then renamed); a damaged entry is compiled again, and a folder that cannot be made, or an entry that cannot be
    written, leaves the templates compiled in memory as before. The folder is as trusted as the key beside it that
    signs this machine's figures (:mod:`mkdocs_attnviz.machine`): never a project's, never committed."""
    import jinja2

    from .. import machine

    class Quiet(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # a damaged entry (Jinja reads a truncated one as an error): compiled again
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    folder = machine.state_dir() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Quiet(str(folder))


def environment():
    """The one Jinja environment of the templates folder (autoescaping on, undefined names are errors)."""
    return _environment(str(templates_dir()))


def asset_text(name: str) -> str:
    """The text of one file of the templates folder (CSS, JS)."""
    return (templates_dir() / name).read_text(encoding="utf-8")


_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(obj: Any) -> str:
    """JSON text safe to place inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` (which can only occur inside JSON strings) become ``\\u003c`` etc., so the
    text can never contain ``</script>`` or ``<!--``; U+2028/U+2029 are escaped for old JS parsers.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _SCRIPT_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text


def script_text(code: str) -> str:
    """JavaScript source to inline in a ``<script>`` element (no ``</script`` / ``<!--`` inside)."""
    code = re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE)
    return code.replace("<!--", "<\\!--")


def style_text(css: str) -> str:
    """CSS to inline in a ``<style>`` element (no ``</`` inside)."""
    return css.replace("</", "<\\/")


def pack_layer(weights_layer: np.ndarray) -> str:
    """``(heads, n, n)`` weights → base64 of zlib (level 6) of ``uint8`` ``round(w*255)`` in C order."""
    import numpy as np

    from ..analysis import quantize

    q = np.ascontiguousarray(quantize(weights_layer))
    return base64.b64encode(zlib.compress(q.tobytes(), 6)).decode("ascii")


def unpack_layer(text: str, num_heads: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_layer` (as float32 in [0, 1])."""
    import numpy as np

    from ..analysis import dequantize

    raw = zlib.decompress(base64.b64decode(text))
    return dequantize(np.frombuffer(raw, dtype=np.uint8).reshape(num_heads, n, -1))


def pack_f32(a: np.ndarray) -> str:
    """Float vectors (the neuron view's q and k) → base64 of zlib (level 9) of little-endian float32."""
    import numpy as np

    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, dtype="<f4").tobytes(), 9)).decode("ascii")


_SIDE = re.compile(r'^Attnviz\.side\("([A-Za-z0-9._-]+)","([A-Za-z0-9+/=]*)"\);\n?$')


def side_script(ident: str, blob: bytes) -> bytes:
    """A side file: ``Attnviz.side("ID","BASE64");`` — a script the page adds with a ``<script src>`` (which works
    from ``file://``, unlike fetch), handing ``blob`` (zlib-compressed bytes) to the page's callback."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", ident):
        raise ValueError(f"bad side file id {ident!r}")
    return f'Attnviz.side("{ident}","{base64.b64encode(blob).decode("ascii")}");\n'.encode("ascii")


def side_payload(text: str) -> tuple[str, str]:
    """``(id, base64)`` of a side file's text (:func:`side_script`), for putting its data into the page itself."""
    m = _SIDE.match(text)
    if not m:
        raise AttnvizError("not an attnviz side file")
    return m.group(1), m.group(2)


_CODE = re.compile(r"<script(?:>|\s+src=)")


def inline_sides(page_html: str, side_files: list[str]) -> str:
    """A figure page with the data of its side files (their texts, :func:`side_script`) put into the page itself,
    before its script, as the blocks the page looks for first: one file that needs nothing beside it."""
    blocks = "".join('<script type="application/octet-stream" data-side="%s">%s</script>\n' % side_payload(text)
                     for text in side_files)
    data = page_html.find('id="attnviz-data"')
    code = _CODE.search(page_html, data) if data >= 0 else None  # the page's first script after its data
    if code is None:
        raise AttnvizError("not an attnviz figure page")
    return page_html[:code.start()] + blocks + page_html[code.start():]


def display_label(label: str) -> str:
    """A token label for an axis: ``␣`` for whitespace, ``∅`` for nothing, shortened to :data:`TICK_CHARS`."""
    text = label if label.strip() else ("␣" if label else "∅")
    return text if len(text) <= TICK_CHARS else text[:TICK_CHARS - 1] + "…"


def markup(text: str):
    """``text`` marked safe for the templates (already escaped: :func:`script_json`, :func:`script_text`)."""
    from markupsafe import Markup

    return Markup(text)
