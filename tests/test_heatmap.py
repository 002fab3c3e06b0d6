"""The heatmap view (views/heatmap.py through draw): the standalone page (data blocks, Bokeh document, escaping, resources) and the PNG.

Synthetic attention only; the real model extraction is tested elsewhere.
"""

from __future__ import annotations

import markupsafe
import io
import json
import re
import warnings

import numpy as np
import pytest

from mkdocs_attnviz import draw
from mkdocs_attnviz.toolkit import bokeh, mpl
from mkdocs_attnviz.toolkit import page as kit
from mkdocs_attnviz.attention import Attention
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.spec import FigureSpec

HOSTILE = ["</script><script>window.__pwned=1;alert(1)</script>", "\"><img src=x onerror=\"window.__pwned=1\">",
           "<!--", "&amp;", "\u2028x\u2029", "{{ 7*7 }}", "$$x^2$$"]
CJK = "今日はカレーライスを食べました。"


def make_attention(n: int = 10, layers: int = 3, heads: int = 4, *, seed: int = 0, labels=None,
                   special=None, model: str = "org/model", peaked: bool = True) -> Attention:
    """Random row-stochastic attention, peaked on a shifted diagonal so the pictures have structure."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n)) * 1.5
    if peaked:
        for h in range(heads):
            logits[:, h, np.arange(n), (np.arange(n) + h - 1) % n] += 4.0
    w = np.exp(logits)
    w /= w.sum(-1, keepdims=True)
    if labels is None:
        labels = ["[CLS]"] + [f"w{i}" for i in range(1, n - 1)] + ["[SEP]"] if n > 2 else [f"w{i}" for i in range(n)]
    labels = list(labels)
    if special is None:
        special = [lab in ("[CLS]", "[SEP]") for lab in labels]
    return Attention(weights=w.astype(np.float32), tokens=[f"raw:{lab}" for lab in labels], labels=labels,
                     special=list(special), segments=[0] * n, model=model, revision="0123abc")


def spec(**kw) -> FigureSpec:
    kw.setdefault("model", "org/model")
    kw.setdefault("text", "a sentence")
    return FigureSpec(**kw)


def script_blocks(page: str, **attrs) -> list[str]:
    """Contents of <script> elements with the given attributes (in order)."""
    out = []
    for m in re.finditer(r"<script([^>]*)>(.*?)</script>", page, flags=re.S):
        head = m.group(1)
        if all(f'{k.replace("_", "-")}="{v}"' in head for k, v in attrs.items()):
            out.append(m.group(2))
    return out


def data_of(page: str) -> dict:
    (block,) = script_blocks(page, id="attnviz-data")
    return json.loads(block)


def bokeh_of(page: str) -> dict:
    (block,) = script_blocks(page, id="attnviz-bokeh")
    return json.loads(block)


def bokeh_objects(node, found=None) -> list[dict]:
    found = [] if found is None else found
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for v in node.values():
            bokeh_objects(v, found)
    elif isinstance(node, list):
        for v in node:
            bokeh_objects(v, found)
    return found


def layers_of(page: str, att_shape) -> np.ndarray:
    num_layers, num_heads, n = att_shape[0], att_shape[1], att_shape[2]
    blocks = {}
    for m in re.finditer(r'<script type="application/octet-stream" data-set="\w+" data-layer="(\d+)">([^<]*)</script>', page):
        blocks[int(m.group(1))] = m.group(2)
    assert sorted(blocks) == list(range(num_layers))
    return np.stack([kit.unpack_layer(blocks[i], num_heads, n) for i in range(num_layers)])


# --------------------------------------------------------------------------------------------- page

def test_page_has_one_image_glyph_and_the_required_decorations():
    att = make_attention()
    page = draw.figure_page(att, spec())
    objs = bokeh_objects(bokeh_of(page))
    names = [o["name"] for o in objs]
    renderers = [o for o in objs if o["name"] == "GlyphRenderer"]
    glyphs = [r["attributes"]["glyph"]["name"] for r in renderers]
    assert glyphs.count("ImageRGBA") == 1  # one image for the whole matrix (not one rect per cell), coloured by the page
    assert "Rect" not in names and "Quad" not in names
    mapper = next(o for o in objs if o["name"] == "LinearColorMapper")
    palette = mapper["attributes"]["palette"]
    assert len(palette) == 256 and palette[0].lower() == "#440154" and palette[-1].lower() == "#fde724"
    bar = next(o for o in objs if o["name"] == "ColorBar")
    assert bar["attributes"]["title"] == "Attention weight"
    labels = {o["attributes"].get("axis_label") for o in objs if o["name"] == "LinearAxis"}
    assert labels == {"Key tokens", "Query tokens"}
    # numeric axes with fixed ticks (tokens can repeat), the first token at the top (flipped y range)
    assert names.count("FixedTicker") == 2 and "FactorRange" not in names
    y_range = next(o for o in objs if o["name"] == "Range1d" and o["attributes"].get("name") == "attnviz-yrange")
    assert y_range["attributes"]["start"] == att.num_tokens and y_range["attributes"]["end"] == 0
    assert any(o["name"] == "HoverTool" for o in objs)
    assert 'id="attnviz-controls"' in page  # the layer and head selects: built by the client core from the payload


def test_bokeh_document_carries_no_matrix_and_no_tokens():
    att = make_attention(n=40, labels=[f"tok{i}zz" for i in range(40)])
    page = draw.figure_page(att, spec())
    (block,) = script_blocks(page, id="attnviz-bokeh")
    assert "tok1zz" not in block
    assert len(block) < 40_000  # the Bokeh model only, not a 40x40 float image
    (source,) = [o for o in bokeh_objects(json.loads(block)) if o["name"] == "ColumnDataSource"
                 and o["attributes"].get("name") == "attnviz-source"]
    image = source["attributes"]["data"]["entries"]
    assert "image" in json.dumps(image)
    assert not re.search(r"\[(\s*-?\d+\.\d*(e-?\d+)?\s*,){20}", page)  # never a JSON list of floats


def test_data_blocks_decode_to_the_weights():
    att = make_attention(n=17, layers=3, heads=5)
    page = draw.figure_page(att, spec())
    decoded = layers_of(page, att.weights.shape)
    assert decoded.shape == att.weights.shape
    assert np.abs(decoded - att.weights).max() <= 1 / 510 + 1e-6
    data = data_of(page)
    axis = data["sets"][data["set"]]["q"]
    assert axis["labels"] == att.labels and axis["tokens"] == att.tokens
    assert data["sets"][data["set"]]["nq"] == 17 and data["num_layers"] == 3 and data["num_heads"] == 5
    assert data["layer"] == 2 and data["head"] == "mean" and data["scale"] == 255


def test_initial_selection_follows_the_spec():
    att = make_attention(layers=4, heads=3)
    page = draw.figure_page(att, spec(layer=-2, head=1))
    data = data_of(page)
    assert (data["layer"], data["head"]) == (2, 1)  # the selects open on them (the browser tests check it)
    page = draw.figure_page(att, spec(layer="all", head="all"))
    assert (data_of(page)["layer"], data_of(page)["head"]) == ("all", "all")
    with pytest.raises(AttnvizError):
        draw.figure_page(att, spec(layer=4))
    with pytest.raises(AttnvizError):
        draw.figure_page(att, spec(head=3))


def test_hide_special_tokens():
    att = make_attention(n=8)
    s = spec(special_tokens="hide")
    page = draw.figure_page(att, s)
    data = data_of(page)
    axis = data["sets"][data["set"]]["q"]
    assert len(axis["labels"]) == 6 and "[CLS]" not in axis["labels"] and data["hidden"] is True
    decoded = layers_of(page, (3, 4, 6))
    np.testing.assert_allclose(decoded.sum(-1), 1.0, atol=6 * 1 / 510 + 1e-6)
    assert "special tokens hidden, rows renormalised" in draw.describe(att, s)
    assert "special tokens hidden, rows renormalised" in page


def test_hostile_text_is_escaped_everywhere():
    labels = ["[CLS]"] + HOSTILE + ["[SEP]"]
    att = make_attention(n=len(labels), labels=labels, model="org/m</title><script>x</script>")
    s = FigureSpec(model=att.model, text="I say </script><img src=x onerror=alert(1)>", pair="&lt;b&gt; <b>bold</b>",
                   caption="cap </script><script>window.__pwned=1</script> \"'<img src=x>", id="fig-1")
    page = draw.figure_page(att, s)
    for raw in ("window.__pwned=1;alert(1)</script>", "<img", "<b>bold", "</title><script>", "\u2028", "\u2029"):
        assert raw not in page, raw
    # only our own script elements: the two JSON blocks, one per layer, the page's scripts (BokehJS is loaded by them)
    assert page.lower().count("<script") == 2 + att.num_layers + 1
    assert page.lower().count("</script") == 2 + att.num_layers + 1
    assert "<!--" not in page
    # the text comes back intact from the JSON block
    data = data_of(page)
    assert data["sets"][data["set"]]["q"]["labels"] == labels and data["text"] == s.text and data["pair"] == s.pair
    assert data["model"] == att.model
    # and HTML-escaped in the visible parts
    assert str(markupsafe.escape(s.caption)) in page
    assert "<title>model org/m&lt;/title&gt;&lt;script&gt;" in page


def test_script_json_escapes():
    text = kit.script_json({"a": "</script><!-- & \u2028\u2029 >"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029 >"}


def test_resources_local():
    page = draw.figure_page(make_attention(), spec())
    # BokehJS is loaded by the page's script when the figure's turn to draw comes, from the file next to it
    import bokeh

    assert data_of(page)["bokehjs"] == {"src": f"bokeh.min.js?v={bokeh.__version__}", "integrity": None}
    assert re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page) == []  # a page that stands alone links nothing else
    assert "cdn.bokeh.org" not in page and "http://" not in page and "https://" not in page
    page = draw.figure_page(make_attention(), spec(), bokeh_src="../_attnviz/bokeh.min.js")
    assert data_of(page)["bokehjs"]["src"] == f"../_attnviz/bokeh.min.js?v={bokeh.__version__}"
    with pytest.raises(AttnvizError):
        draw.figure_page(make_attention(), spec(), bokeh_src="https://example.org/bokeh.min.js")


def test_resources_cdn_and_inline():
    import bokeh

    page = draw.figure_page(make_attention(), spec(), resources="cdn")
    cdn = data_of(page)["bokehjs"]
    assert cdn["src"] == f"https://cdn.bokeh.org/bokeh/release/bokeh-{bokeh.__version__}.min.js"
    assert cdn["integrity"] is None or cdn["integrity"].startswith("sha384-")
    page = draw.figure_page(make_attention(), spec(), resources="inline")
    assert "<script src" not in page and "cdn.bokeh.org/bokeh/release" not in page
    assert data_of(page)["bokehjs"] is None
    assert len(page) > 1_000_000  # BokehJS itself is in the page
    assert page.lower().count("</script") == page.lower().count("<script")
    with pytest.raises(AttnvizError):
        draw.figure_page(make_attention(), spec(), resources="nope")


def test_page_is_deterministic_and_compact():
    att = make_attention(n=50, layers=6, heads=12)
    a = draw.figure_page(att, spec())
    b = draw.figure_page(att, spec())
    assert a == b
    floor = 6 * 12 * 50 * 50
    assert len(a.encode()) < 2.0 * floor


def test_describe_and_height():
    att = make_attention(layers=6, heads=12)
    assert draw.describe(att, spec()) == "model org/model, layer 5 of 6 (last), mean of 12 heads"
    assert draw.describe(att, spec(layer=0, head=3)) == "model org/model, layer 0 of 6, head 3 of 12"
    assert draw.describe(att, spec(layer="all", head="max")) == "model org/model, all 6 layers, max of 12 heads"
    assert draw.describe(att, spec(layer=-6, head="all")) == "model org/model, layer 0 of 6, all 12 heads"
    assert draw.figure_height(att, spec(height=432)) == 432
    small = draw.figure_height(make_attention(n=5), spec())
    big = draw.figure_height(make_attention(n=60), spec())
    assert 250 < small < big <= 900
    assert draw.figure_height(make_attention(n=300), spec()) == draw.figure_height(make_attention(n=400), spec())


def test_bokehjs_files_and_templates():
    files = bokeh.bokehjs_files()
    assert list(files) == ["bokeh.min.js"] and files["bokeh.min.js"].is_file()
    folder = kit.templates_dir()
    assert (folder / "figure.html.jinja").is_file() and (folder / "view-heatmap.js").is_file()
    assert isinstance(kit.RENDER_VERSION, str) and kit.RENDER_VERSION


# ---------------------------------------------------------------------------------------------- PNG

def _png_pixels(data: bytes) -> np.ndarray:
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(io.BytesIO(data), format="png")


def _has_colour(pixels: np.ndarray, hex_colour: str, tol: float = 0.06) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(pixels[..., :3] - rgb).max(-1) < tol).any())


def test_png_is_a_real_viridis_heatmap():
    att = make_attention(n=12)
    data = draw.figure_png(att, spec())
    px = _png_pixels(data)
    assert px.ndim == 3 and px.shape[0] > 300 and px.shape[1] > 300
    assert px[..., :3].std() > 0.1
    assert _has_colour(px, "#fde725")  # the largest weight is the top of the scale: yellow
    assert _has_colour(px, "#440154", tol=0.1)  # dark purple near 0
    assert draw.figure_png(att, spec()) == data  # deterministic


def test_png_first_token_at_the_top():
    n = 8
    att = make_attention(n=n, layers=1, heads=1, peaked=False)
    w = np.full((1, 1, n, n), 0.0, dtype=np.float32)
    w[0, 0, :, 0] = 1.0
    w[0, 0, 0, :] = 1.0 / n  # the first row is uniform (dim), every other row is all on key 0
    att.weights = w
    fig_px = _png_pixels(draw.figure_png(att, spec(layer=0, head=0)))[..., :3]
    yellow = np.abs(fig_px - np.array([0xfd, 0xe7, 0x25]) / 255).max(-1) < 0.05
    rows, cols = np.nonzero(yellow)
    # the bright column (key 0) is at the left of the heatmap, and its top cell (query 0) is not bright
    assert cols.min() < fig_px.shape[1] / 2
    left_col = cols.min() + 2
    column = yellow[:, left_col]
    top_of_bright = np.nonzero(column)[0].min()
    # above the first bright pixel of that column there is a dim (uniform 1/8) cell of the same height
    cell = (np.nonzero(column)[0].max() - top_of_bright) / (n - 1)
    assert cell > 10
    above = fig_px[int(top_of_bright - cell / 2), left_col]
    assert above.max() < 0.7  # not yellow: row 0 is drawn at the top


def test_png_cjk_has_no_missing_glyph_warnings():
    labels = list(CJK)
    att = make_attention(n=len(labels), labels=labels, special=[False] * len(labels), model="cl-tohoku/bert-日本語")
    with mpl.missing_glyphs() as missing:  # what the build reports as "no glyph in any installed font"
        data = draw.figure_png(att, spec(model=att.model, text=CJK))
    assert missing == set()
    assert _png_pixels(data)[..., :3].std() > 0.1


def test_png_small_multiples_and_hidden_specials():
    att = make_attention(n=9, layers=3, heads=4)
    for s in (spec(layer="all", head="all"), spec(layer="all", head="mean"), spec(layer=1, head="all"),
              spec(special_tokens="hide")):
        px = _png_pixels(draw.figure_png(att, s))
        assert px[..., :3].std() > 0.1
    one = _png_pixels(draw.figure_png(att, spec(layer="all", head="all")))
    assert one.shape[1] > 600


def test_png_font_override_is_used():
    att = make_attention(n=6)
    a = draw.figure_png(att, spec(), font="DejaVu Serif")
    b = draw.figure_png(att, spec())
    assert a != b


@pytest.mark.parametrize("n, options", [(10, {}), (60, {}), (200, {}), (16, {"text": CJK}), (9, {"layer": "all"}),
                                        (9, {"layer": "all", "head": "all"}), (9, {"layer": 1, "head": "all"})])
def test_png_labels_are_never_cut(n, options):
    """The computed layout leaves a white border all round: no label, title or colour bar touches an edge."""
    labels = None
    if "text" in options:
        labels = list(options["text"])[:n]
    elif n <= 60:  # long labels first and last: the first x label reaches furthest left, the last y label down
        labels = ["Internationalization"] + [f"tok{i}" for i in range(1, n - 1)] + ["supercalifragilistic"]
    att = make_attention(n=n, layers=3, heads=4, labels=labels,
                         special=[False] * n if labels else None, model="org/" + "a-rather-long-model-name" * 3)
    px = _png_pixels(draw.figure_png(att, spec(**options)))[..., :3]
    for edge in (px[:3], px[-3:], px[:, :3], px[:, -3:]):
        assert edge.min() > 0.98, "something is drawn on the edge of the PNG"
    ink = np.nonzero((px < 0.5).any(-1))
    assert ink[0].min() < 40 and ink[1].min() < 60  # the title near the top, the y axis title near the left


def test_bokeh_document_memo_gives_the_bytes_of_a_fresh_build():
    """The Bokeh JSON is built once per colour map and pair/no pair, with the token count, plot height and
    pair boundary put back in: every combination must give exactly what building it afresh gives."""
    import dataclasses

    bokeh.TEMPLATES.clear()
    for n in (1, 2, 3, 9, 10, 47, 200):
        att = make_attention(n=n, layers=1, heads=1)
        for boundary in (None, 1, n // 2):
            a = att if boundary is None or n < 2 else dataclasses.replace(
                att, segments=[0] * boundary + [1] * (n - boundary))
            for height in (120, 600, 601, 4000):
                for colormap in ("viridis", "magma"):
                    b = next((i for i, x in enumerate(a.segments) if x == 1), None)
                    assert bokeh.document_json(a.num_tokens, height, colormap, b) == kit.script_json(
                        bokeh.document(a.num_tokens, height, colormap, b))
    assert bokeh.TEMPLATES and all(v is not None for v in bokeh.TEMPLATES.values())
    # and a whole page is the same, memo warm or cold
    att = make_attention(n=12)
    warm = draw.figure_page(att, spec())
    bokeh.TEMPLATES.clear()
    assert draw.figure_page(att, spec()) == warm


def test_figure_svg_is_deterministic_with_text_as_paths():
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    labels = list(CJK)
    att = make_attention(n=len(labels), labels=labels, special=[False] * len(labels))
    for s in (spec(text=CJK), spec(text=CJK, layer="all", head="all"), spec(text=CJK, style="classic"),
              spec(text=CJK, view="bars")):
        with mpl.missing_glyphs() as missing:
            data = draw.figure_svg(att, s)
        assert missing == set()
        assert draw.figure_svg(att, s) == data
        root = ET.fromstring(data)
        assert root.tag == f"{ns}svg"
        assert not list(root.iter(f"{ns}text")) and len(list(root.iter(f"{ns}path"))) > 10
        assert b"<dc:date>" not in data
    # the PNG is unchanged by the SVG machinery, and save_figure refuses other formats
    assert draw.figure_png(att, spec(text=CJK))[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(AttnvizError, match="image format"):
        with mpl.image_format("gif"):
            draw.figure_png(att, spec())
