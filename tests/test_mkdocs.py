"""Real `mkdocs build` runs in a temporary folder, with the packaged MiniLM and a tiny GPT-2."""

import base64
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from urllib.parse import urljoin, urlparse

import numpy as np
import pytest

from mkdocs_attnviz import extract

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "The cat sat on the mat because it was tired."


def iframes(html: str) -> list[str]:
    return re.findall(r'<iframe class="attnviz-frame" src="([^"]+)"', html)


def resolve(page_file: Path, site: Path, src: str) -> Path:
    """Where a relative URL found in a built page points to, as a file in the site folder."""
    page_url = "http://h/" + page_file.relative_to(site).as_posix()
    target = urlparse(urljoin(page_url, src)).path.lstrip("/")
    return site / target


def decode_figure(html: str) -> np.ndarray:
    """Decode the packed attention of a figure page: per layer, base64 of zlib of uint8 (heads, n, n)."""
    blocks = re.findall(r'<script type="application/octet-stream"[^>]*data-layer="(\d+)"[^>]*>([^<]*)</script>', html)
    meta = json.loads(re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S).group(1))
    n = meta["sets"][meta["set"]]["nq"]
    layers = [np.frombuffer(zlib.decompress(base64.b64decode(b.strip())), np.uint8) for _, b in sorted(
        blocks, key=lambda x: int(x[0]))]
    return np.stack([a.reshape(-1, n, n) for a in layers]).astype(np.float32) / 255.0


@pytest.fixture
def nested_site(site):
    site.page("index.md", f'''
        # Home

        ```attnviz layer="last" head="mean" caption="Mean of heads"
        {SENTENCE}
        ```
        ''')
    site.page("guide/deep/page.md", '''
        ---
        title: Deep
        ---
        # Deep page

        ```attnviz layer="0" head="3"
        The dog chased the ball.
        ```
        ''')
    return site


@pytest.mark.parametrize("use_directory_urls", [True, False])
def test_nested_pages_links_resolve(nested_site, use_directory_urls):
    site = nested_site
    site.config(use_directory_urls=str(use_directory_urls).lower(),
                site_url="https://example.org/project/sub/")
    docs_before = sorted((p.relative_to(site.docs), p.stat().st_mtime_ns) for p in site.docs.rglob("*"))
    site.build(strict=True)
    pages = [site.site / "index.html",
             site.site / ("guide/deep/page/index.html" if use_directory_urls else "guide/deep/page.html")]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        srcs = iframes(html)
        assert len(srcs) == 1, page
        assert not srcs[0].startswith(("/", "http")), srcs[0]  # relative: works under any sub-path
        assert resolve(page, site.site, srcs[0]).is_file()
        png = re.search(r'<img class="attnviz-print" src="([^"]+)"', html).group(1)
        assert resolve(page, site.site, png).is_file()
        css = re.search(r'<link[^>]+href="([^"]*assets/attnviz/attnviz\.css)"', html).group(1)
        assert resolve(page, site.site, css).is_file()
        figure = resolve(page, site.site, srcs[0]).read_text(encoding="utf-8")
        bokeh = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', figure).group(1))["bokehjs"]["src"].split("?")[0]
        assert not bokeh.startswith(("/", "http")), bokeh
        assert resolve(resolve(page, site.site, srcs[0]), site.site, bokeh).is_file()
    # the docs folder is never written to
    assert sorted((p.relative_to(site.docs), p.stat().st_mtime_ns) for p in site.docs.rglob("*")) == docs_before


def test_plugin_alone_is_enough(site):
    site.page("index.md", f"```attnviz\n{SENTENCE}\n```\n")
    site.config()  # no markdown_extensions at all
    site.build(strict=True)
    assert len(iframes((site.site / "index.html").read_text(encoding="utf-8"))) == 1


def test_page_data_equals_direct_forward_pass(site, minilm_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    site.page("index.md", f'```attnviz layer="2" head="4"\n{SENTENCE}\n```\n')
    site.config()
    site.build(strict=True)
    src = iframes((site.site / "index.html").read_text(encoding="utf-8"))[0]
    page = (site.site / src).read_text(encoding="utf-8")
    data = decode_figure(page)

    tok = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(**tok(SENTENCE, return_tensors="pt"), output_attentions=True)
    direct = torch.stack(out.attentions)[:, 0].numpy()
    assert data.shape == direct.shape == (6, 12, direct.shape[-1], direct.shape[-1])
    # the page holds ⌊w · 255 + ½⌋ (within 1/510 of w, as docs/views/llms.md says) of the build's weights, which
    # come from the build's attention function and differ from eager's by float rounding (≤ 2.5e-4 here)
    assert np.array_equal(data * 255, np.rint(data * 255))
    assert np.abs(data - direct).max() <= 1 / 510 + 2.5e-4


WARM_CHECK = textwrap.dedent('''
    import sys, logging
    from mkdocs.config import load_config
    from mkdocs.commands.build import build
    logging.basicConfig(level=logging.INFO)
    cfg = load_config(sys.argv[1], strict=True)
    cfg.plugins.on_startup(command="build", dirty=False)
    build(cfg)
    cfg.plugins.on_shutdown()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "numpy", "bokeh",
                                                                   "matplotlib", "PIL", "onnx", "onnxruntime",
                                                                   "onnxscript"))
    print("HEAVY=" + ",".join(heavy))
''')


def test_second_build_is_warm_and_torch_free(nested_site, caplog):
    site = nested_site
    cfg_path = site.config()
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.attnviz"):
        before = extract.STATS["forwards"]
        site.build(strict=True)
        assert extract.STATS["forwards"] - before == 2
    assert re.search(r"attnviz: 2 figures \(0 from cache, 2 rendered, 2 model runs, 0 errors\) in [\d.]+ s",
                     caplog.text)
    first = {p.name: p.read_bytes() for p in (site.site / "assets/attnviz").iterdir()}

    proc = subprocess.run([sys.executable, "-c", WARM_CHECK, str(cfg_path)], capture_output=True, text=True,
                          cwd=site.root, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout, proc.stdout  # no torch, transformers, numpy, Bokeh or matplotlib imported
    assert re.search(r"attnviz: 2 figures \(2 from cache, 0 rendered, 0 model runs, 0 errors\)", proc.stderr)
    second = {p.name: p.read_bytes() for p in (site.site / "assets/attnviz").iterdir()}
    assert first == second


def test_cache_only_miss_fails_clearly(site, caplog):
    site.page("index.md", f"```attnviz\n{SENTENCE}\n```\n")
    site.config(plugin="cache_only: true")
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert "index.md:1: option 'model': the attention of this block is not in the cache" in caplog.text
    assert "cache_only" in caplog.text


@pytest.mark.parametrize("block, words", [
    ('```attnviz colour="red"\nx\n```', "option 'colour': unknown option"),
    ('```attnviz layer="99"\nThe cat.\n```', "option 'layer': layer 99 is out of range"),
    ('```attnviz\n\n```', "option 'text': the block has no sentence"),
    ('```attnviz model="nobody/nothing-here"\nThe cat.\n```', "option 'model':"),
])
def test_strict_build_fails_and_plain_build_shows_error_box(site, caplog, block, words):
    site.page("index.md", "# Title\n\nText.\n\n" + block + "\n")
    site.config()
    from mkdocs.exceptions import Abort

    with pytest.raises(Abort):
        site.build(strict=True)
    assert f"docs/index.md:5: {words}" in caplog.text
    caplog.clear()
    site.build(strict=False)
    html = (site.site / "index.html").read_text(encoding="utf-8")
    assert "attnviz-error" in html and "this figure could not be built" in html


def test_on_error_fail_stops_the_build(site):
    site.page("index.md", '```attnviz layer="99"\nThe cat.\n```\n')
    site.config(plugin="on_error: fail")
    from mkdocs_attnviz.fence import AttnvizFenceError

    with pytest.raises(AttnvizFenceError, match=r"^docs/index\.md:1: option 'layer': layer 99 is out of range: "
                                                 r"the model has 6 layers \(0 to 5, or -1 to -6\)$"):
        site.build(strict=False)
    assert not (site.site / "index.html").exists()


def test_tiny_gpt2_site(site, tiny_gpt2):
    site.page("index.md", f'```attnviz model="gpt2-tiny" layer="all" head="all"\nThe cat sat on the mat.\n```\n')
    site.config(plugin=f"models:\n  gpt2-tiny: {tiny_gpt2}")
    site.build(strict=True)
    src = iframes((site.site / "index.html").read_text(encoding="utf-8"))[0]
    data = decode_figure((site.site / src).read_text(encoding="utf-8"))
    upper = np.triu(np.ones(data.shape[-2:], bool), 1)
    assert data[..., upper].max() == 0  # causal: nothing attends to the future


def test_material_theme(site):
    pytest.importorskip("material")
    site.page("index.md", f'!!! note\n\n    ```attnviz\n    {SENTENCE}\n    ```\n')
    site.config(extra="theme:\n  name: material\nmarkdown_extensions:\n  - admonition\n  - pymdownx.superfences")
    site.build(strict=True)
    assert len(iframes((site.site / "index.html").read_text(encoding="utf-8"))) == 1


def test_long_figure_publishes_its_side_files(site, monkeypatch):
    """A long input's heatmap (from 8 tokens here) is published with one side file per layer and head."""
    from mkdocs_attnviz import attention

    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    site.page("index.md", f"```attnviz\n{SENTENCE}\n```\n")
    site.config()
    site.build(strict=True)
    src = iframes((site.site / "index.html").read_text(encoding="utf-8"))[0]
    key = Path(src).stem
    sides = sorted(p.name for p in (site.site / src).parent.glob(f"{key}.l*.js"))
    assert len(sides) == 6 * (12 + 2) and f"{key}.l5.mean.js" in sides  # MiniLM: 6 layers × (12 heads, mean, max)
    assert f'"prefix":"{key}"' in (site.site / src).read_text(encoding="utf-8")
