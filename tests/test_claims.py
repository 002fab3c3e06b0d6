"""Promises of the README and the docs that no other test held: each test names the claim it keeps."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mkdocs_attnviz import datafile, draw, extract
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.extract.resolve import ModelRef
from mkdocs_attnviz.extract.qk import layer_qk, recompute
from mkdocs_attnviz.extract.run import check_qk
from mkdocs_attnviz.spec import COLORMAPS, build_spec
from mkdocs_attnviz.toolkit import fonts, mpl
from mkdocs_attnviz.toolkit.colors import palette

from test_heatmap import make_attention

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# README and docs/reference.md: "`colormap` | `viridis`, `magma`, ... | `viridis`"
DOCUMENTED_COLORMAPS = re.findall(r"`(\w+)`", re.search(r"\| `colormap` \|([^|]*)\|", README).group(1))


def _png(data: bytes) -> np.ndarray:
    import io

    from matplotlib.image import imread

    return imread(io.BytesIO(data), format="png")[..., :3]


def _near(px: np.ndarray, rgb, tol: float = 0.02) -> int:
    return int((np.abs(px - np.asarray(rgb)[:3]).max(-1) < tol).sum())


# ------------------------------------------------------------------------------------------- options

def test_tokens_are_split_at_bars_when_a_token_holds_a_space(tmp_path):
    """README `tokens`: separated by spaces, or by `|` when a token holds a space."""
    np.save(tmp_path / "att.npy", np.full((3, 3), 1 / 3, dtype=np.float32))
    by_bar = build_spec({"data": "att.npy", "tokens": "New York|is|big"}, "")
    assert by_bar.tokens == ("New York", "is", "big")
    assert build_spec({"data": "att.npy", "tokens": "New York is"}, "").tokens == ("New", "York", "is")
    att = datafile.load(str(tmp_path / "att.npy"), tokens=list(by_bar.tokens), text="", name="att.npy")
    assert att.labels == ["New York", "is", "big"]
    with pytest.raises(AttnvizError, match=r"option 'tokens': expected tokens separated by spaces \(or by '\|'\), "
                                            r"with no empty token"):
        build_spec({"data": "att.npy", "tokens": "a||b"}, "")


def test_max_tokens_is_at_most_16384():
    """README `max_tokens`: at most 16,384."""
    assert build_spec({"model": "m", "max_tokens": "16384"}, "x").max_tokens == 16384
    with pytest.raises(AttnvizError, match=r"option 'max_tokens': .*16384") as info:
        build_spec({"model": "m", "max_tokens": "16385"}, "x")
    assert info.value.option == "max_tokens"


def test_the_documented_colormaps_are_the_accepted_ones():
    assert len(DOCUMENTED_COLORMAPS) == 13 and set(DOCUMENTED_COLORMAPS) == set(COLORMAPS)
    with pytest.raises(AttnvizError, match="option 'colormap'"):
        build_spec({"model": "m", "colormap": "jet"}, "x")


@pytest.mark.parametrize("name", DOCUMENTED_COLORMAPS)
def test_every_documented_colormap_paints_the_heatmap(name):
    """README `colormap`: each of the 13 names gives a heatmap in that colour map (its colour bar's middle and top
    colours are in the PNG, and the page carries the map)."""
    from matplotlib import colormaps

    att = make_attention(n=6, layers=1, heads=1)
    s = build_spec({"model": "m", "colormap": name, "values": "false"}, "a sentence")
    px = _png(draw.figure_png(att, s))
    cmap = colormaps[COLORMAPS[name]]
    assert _near(px, cmap(0.5)) > 10 and _near(px, cmap(1.0)) > 10, name
    page = draw.figure_page(att, s)
    top = palette(name)[-1].lower()
    assert top in page.lower() and top != palette("viridis" if name != "viridis" else "magma")[-1].lower(), name


def test_tokens_are_never_translated():
    """README `lang`: the figure's words follow the language; the tokens are never translated."""
    labels = ["[CLS]", "Hello", "world", "Katze", "[SEP]"]
    att = make_attention(n=5, layers=1, heads=2, labels=labels)
    pages = {lang: draw.figure_page(att, build_spec({"model": "m", "lang": lang}, "Hello world Katze"))
             for lang in ("en", "ja", "de")}
    assert pages["en"] != pages["ja"] != pages["de"]  # the words did change
    for page in pages.values():
        for label in labels:
            assert json.dumps(label) in page


def test_colour_emoji_are_in_the_page_and_the_png_draws_them_only_from_an_outline_font():
    """docs/languages.md: the page shows emoji (the reader's browser draws them in colour); the PNG draws an emoji
    only when an installed outline font has it, else the build reports it as a missing glyph. A ZWJ sequence keeps
    every character in the labels, and the joiner itself is never reported."""
    labels = ["😀", "👩\u200d💻", "ok"]
    att = make_attention(n=3, layers=1, heads=1, labels=labels, special=[False] * 3)
    page = draw.figure_page(att, build_spec({"model": "m"}, "😀 👩\u200d💻 ok"))
    for label in labels:
        assert json.dumps(label) in page or json.dumps(label, ensure_ascii=False) in page
    with mpl.missing_glyphs() as missing:
        draw.figure_png(att, build_spec({"model": "m"}, "x"))
    assert missing == {c for c in "😀👩💻" if not fonts.drawable(c)}
    assert "\u200d" not in missing


# ------------------------------------------------------------------------------------------- models

def test_mpnet_is_refused_by_the_neuron_view_with_the_reason(tmp_path):
    """docs/views/llms.md: MPNet computes its attention in its own code, so the neuron view refuses it; its heatmap
    works (from the weights the model returns)."""
    from models import make_tiny_mpnet

    ref = extract.resolve_model(make_tiny_mpnet(tmp_path / "mpnet"), None, allowed_root=str(tmp_path))
    with pytest.raises(AttnvizError) as info:
        extract.extract(ref, "the cat sat", qk=True)
    assert str(info.value) == ("option 'view': the neuron view cannot show 'mpnet': it computes its attention in its "
                               "own code, not through transformers' attention interface, so its query and key "
                               "vectors cannot be captured")
    att = extract.extract(ref, "the cat sat")
    assert att.weights.shape[:2] == (2, 4) and np.allclose(att.weights.sum(-1), 1, atol=1e-4)


def _layer(seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, 2, 5, 8, generator=g), torch.randn(1, 2, 5, 8, generator=g)
    return layer_qk(q, k, 8 ** -0.5, None, None, None)


def test_the_neuron_view_is_refused_when_its_formula_differs_from_the_attention_by_more_than_1e_3():
    """docs/views/llms.md: a figure is refused if the model's attention and softmax(q·k × scale + bias) differ by
    more than 10⁻³."""
    ref = ModelRef(name="m", source="m", revision=None, fingerprint="m", local=True)
    layer = _layer()
    w = recompute(layer)
    check_qk(ref, [layer], [w])  # equal
    near = w.copy()
    near[0, 0, 0] += 9e-4
    check_qk(ref, [layer], [near])  # within 10⁻³
    far = w.copy()
    far[1, 2, 3] += 1.1e-3
    with pytest.raises(AttnvizError) as info:
        check_qk(ref, [layer], [far])
    assert str(info.value) == ("option 'view': model 'm': softmax(q·k × scale + bias) from the captured vectors does "
                               "not give its attention in layer 0: the neuron view cannot show it")


def test_device_cuda_without_cuda_says_so():
    """README `device`: `cuda` asks for the GPU; on a machine without one the figure says why and what to use."""
    import torch

    from mkdocs_attnviz.extract.load import pick_device

    if torch.cuda.is_available():
        assert pick_device("cuda") == "cuda"
        return
    with pytest.raises(AttnvizError) as info:
        pick_device("cuda")
    assert str(info.value) == (f"option 'device': device 'cuda' asked for but CUDA is not available (torch "
                               f"{torch.__version__}); use device 'auto' or 'cpu'")
    assert pick_device("auto") == "cpu"


# ------------------------------------------------------------------------------------------- MkDocs

def test_enabled_false_leaves_the_blocks_as_code_blocks(site):
    """docs/reference.md `enabled`: turn the plugin off (blocks stay code blocks)."""
    site.page("index.md", '```attnviz layer="2"\nThe cat sat.\n```\n')
    site.config(plugin="enabled: false")
    site.build(strict=True)
    html = (site.site / "index.html").read_text(encoding="utf-8")
    assert "attnviz-frame" not in html and "<iframe" not in html
    assert re.search(r"<code[^>]*>[^<]*The cat sat\.", html)
    assert not (site.site / "attnviz").exists()


def test_gh_deploy_publishes_the_figures_with_relative_links(site, tmp_path):
    """README/docs/publishing.md: `mkdocs gh-deploy` works as is (figures use relative links; `.nojekyll`)."""
    site.page("index.md", "# Home\n\n```attnviz\nThe cat sat.\n```\n")
    site.page("deep/page.md", "# Deep\n\n```attnviz\nThe cat sat.\n```\n")
    site.config()
    remote = tmp_path / "remote.git"
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")

    def run(*cmd, cwd=site.root):
        return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)

    run("git", "init", "-q", "--bare", str(remote), cwd=tmp_path)
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "docs")
    run("git", "remote", "add", "pages", str(remote))
    run(sys.executable, "-m", "mkdocs", "gh-deploy", "--no-history", "--remote-name", "pages", "--force")
    files = run("git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "gh-pages").stdout.split()
    assert ".nojekyll" in files and "index.html" in files and "deep/page/index.html" in files

    def show(name):
        return run("git", "--git-dir", str(remote), "show", f"gh-pages:{name}").stdout

    for page, prefix in (("index.html", ""), ("deep/page/index.html", "../../")):
        srcs = re.findall(r'<iframe[^>]*\ssrc="([^"]+)"', show(page))
        assert srcs and all(not s.startswith(("/", "http")) for s in srcs), srcs
        target = os.path.normpath(os.path.join(os.path.dirname(page), srcs[0]))
        assert srcs[0].startswith(prefix) and target in files, (page, srcs[0])


def test_the_readme_names_every_benchmark_part():
    """README: `--only weight|builds|...` lists the parts `python -m benchmarks.run` accepts."""
    from benchmarks import run

    listed = re.search(r"`--only ([a-z0-9|]+)`", README).group(1).split("|")
    assert listed == list(run.ALL)


def test_a_page_carries_bokehjs_deflated_in_about_460_kb():
    """docs/zensical.md: a page with a heatmap carries one copy of BokehJS, deflated and base64-encoded (about
    460 KB); it inflates to BokehJS itself."""
    import base64
    import zlib

    from mkdocs_attnviz import inline
    from mkdocs_attnviz.toolkit import bokeh

    html = inline.page_assets(css=False, scripts={inline.BOKEHJS_ID: bokeh.bokehjs_text()})
    carried = re.fullmatch(r'<script type="application/octet-stream" data-encoding="deflate" id="attnviz-bokehjs">'
                           r'([A-Za-z0-9+/=]+)</script>\n', html).group(1)
    assert 420_000 <= len(carried) <= 500_000, len(carried)
    assert zlib.decompress(base64.b64decode(carried)).decode("utf-8") == bokeh.bokehjs_text()
