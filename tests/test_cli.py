"""The ``attnviz`` command: report (folder and single file, in real headless Chromium with the network
blocked), warm (MkDocs, Sphinx, SPEC), render, cache ls / prune, help texts and exit codes."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from browser import chromium, console_errors, drawn_in_frame, offline, requested_urls  # noqa: F401
from test_hostile_support import parse_html
from mkdocs_attnviz import extract
from mkdocs_attnviz.cli import load_project, main

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ROOTS = Path(__file__).parent / "roots"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-cache")


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write_spec(folder: Path, body: str, *, minilm_path: str, cache: Path, name: str = "spec.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    front = textwrap.dedent(f"""\
        ---
        title: Attention report
        models:
          minilm: {minilm_path}
        defaults:
          model: minilm
        cache_dir: {cache}
        ---
        """)
    path = folder / name
    path.write_text(front + textwrap.dedent(body), encoding="utf-8")
    return path


REPORT = """\
# Attention in MiniLM

Some *prose* that stays, with a [link](https://example.org).

```attnviz layer="last" caption="Mean of the heads"
The cat sat on the mat because it was tired.
```

!!! note
    ```attnviz layer="0" head="3"
    The dog chased the ball.
    ```
"""


# -------------------------------------------------------------------------------------- usage, help

def test_help_and_exit_codes(tmp_path, capsys):
    exe = shutil.which("attnviz") or None
    cmd = [exe] if exe else [sys.executable, "-m", "mkdocs_attnviz.cli"]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for word in ("report", "warm", "render", "cache", "Exit status"):
        assert word in proc.stdout
    for sub in (["report", "--help"], ["warm", "--help"], ["render", "--help"], ["cache", "prune", "--help"]):
        proc = subprocess.run([*cmd, *sub], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "usage: attnviz" in proc.stdout, sub
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2

    with pytest.raises(SystemExit) as info:
        main(["report", "x.md"])  # -o missing
    assert info.value.code == 2
    assert "-o/--output" in capsys.readouterr().err
    proc = subprocess.run([*cmd, "cache"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "ls or prune" in proc.stderr
    rc, _, err = run(capsys, "warm", tmp_path / "missing.yml")
    assert rc == 2 and "missing.yml: no such file or folder" in err
    rc, _, err = run(capsys, "render", "--model", "m", "--text", "t", "-o", tmp_path / "f.txt")
    assert rc == 2 and ".html, .png or .svg" in err
    (tmp_path / "bad.yml").write_text("figures: 3\n", encoding="utf-8")
    rc, _, err = run(capsys, "report", tmp_path / "bad.yml", "-o", tmp_path / "out")
    assert rc == 2 and "bad.yml: a YAML SPEC is a list of figures" in err


# ------------------------------------------------------------------------------------------ report

def test_report_from_markdown(tmp_path, capsys, minilm_path, shared_cache):
    spec = write_spec(tmp_path / "src", REPORT + '\n```attnviz layer="99"\nThe cat.\n```\n',
                      minilm_path=minilm_path, cache=shared_cache)
    out = tmp_path / "report"
    rc, _, err = run(capsys, "report", spec, "-o", out)
    assert rc == 1  # one block failed ...
    line = spec.read_text(encoding="utf-8").splitlines().index('```attnviz layer="99"') + 1
    assert f"spec.md:{line}: option 'layer': layer 99 is out of range" in err  # ... named by file and line
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<em>prose</em>" in html and 'href="https://example.org"' in html
    assert "<title>Attention report</title>" in html
    srcs = re.findall(r'<iframe class="attnviz-frame" src="([^"]+)"', html)
    assert len(srcs) == 2 and all(s.startswith("assets/") and (out / s).is_file() for s in srcs)
    assert 'class="admonition note"' in html
    assert html.count('<div class="attnviz-error') == 1
    assert (out / ".nojekyll").is_file() and (out / "assets/bokeh.min.js").is_file()
    for src in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert src.startswith("https://") or (out / src).is_file(), src  # every local link resolves
    figure = (out / srcs[0]).read_text(encoding="utf-8")
    assert json.loads(re.search(r'id="attnviz-data">(.*?)</script>', figure).group(1))["bokehjs"]["src"].startswith("bokeh.min.js?v=")


def test_report_from_yaml(tmp_path, capsys, minilm_path, shared_cache):
    spec = tmp_path / "figures.yml"
    spec.write_text(textwrap.dedent(f"""\
        title: Two figures
        cache_dir: {shared_cache}
        models:
          minilm: {minilm_path}
        defaults:
          model: minilm
        figures:
          - heading: The cat
            notes: Mean over the heads of the *last* layer.
            text: The cat sat on the mat because it was tired.
            layer: last
          - text: The dog chased the ball.
            layer: 0
            head: 3
          - text: Bad head.
            head: twelve
        """), encoding="utf-8")
    rc, _, err = run(capsys, "report", spec, "-o", tmp_path / "out")
    assert rc == 1
    assert "figures.yml:15: option 'head': expected a head number" in err
    html = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    assert "<h1>Two figures</h1>" in html and "<h2>The cat</h2>" in html and "<em>last</em>" in html
    assert len(re.findall(r"<iframe", html)) == 2 and html.count('<div class="attnviz-error') == 1


def test_long_figures_in_reports_and_render(tmp_path, capsys, minilm_path, monkeypatch):
    """A long input's side files go next to a rendered page, into a report's assets, or into a single-file report."""
    from mkdocs_attnviz import attention

    monkeypatch.setattr(attention, "LONG_TOKENS", 8)
    spec = write_spec(tmp_path / "src", REPORT, minilm_path=minilm_path, cache=tmp_path / "cache")
    rc, _, err = run(capsys, "report", spec, "-o", tmp_path / "folder")
    assert rc == 0, err
    assert len(list((tmp_path / "folder/assets").glob("*.l*.js"))) == 2 * 6 * 14
    target = tmp_path / "mail" / "report.html"
    rc, _, err = run(capsys, "report", spec, "-o", target, "--single-file")
    assert rc == 0, err
    html = target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    carried = [e.attrs["srcdoc"] for e in parse_html(html).elements if e.tag == "iframe"]
    assert [page.count('data-side="l5.mean"') for page in carried] == [1, 1] and ".l5.mean.js" not in html
    rc, _, err = run(capsys, "render", "--model", "minilm", "--model-path", f"minilm={minilm_path}", "--cache-dir",
                     tmp_path / "cache", "--text", "The cat sat on the mat.", "-o", tmp_path / "one" / "page.html")
    assert rc == 0, err
    assert len(list((tmp_path / "one").glob("*.l*.js"))) == 6 * 14


def test_single_file_report_draws_offline_in_chromium(tmp_path, capsys, minilm_path, shared_cache, chromium):
    spec = write_spec(tmp_path / "src", REPORT, minilm_path=minilm_path, cache=shared_cache)
    target = tmp_path / "mail" / "report.html"
    rc, _, err = run(capsys, "report", spec, "-o", target, "--single-file")
    assert rc == 0, err
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # one file, nothing beside it
    html = target.read_text(encoding="utf-8")
    assert "assets/" not in html
    outer = parse_html(html).elements  # the report's own elements and, parsed apart, each carried figure page
    pages = [parse_html(e.attrs["srcdoc"]).elements for e in outer if e.tag == "iframe"]
    links = [v for elements in [outer] + pages for e in elements for k, v in e.attrs.items()
             if k in ("src", "href") and e.tag != "a"]  # what loads by itself (the prose may link elsewhere)
    assert len(pages) == 2 and all(v.startswith(("data:image/png;base64,", "#")) for v in links), links
    # BokehJS and the shared scripts once, for both figures
    assert html.count('<script type="application/octet-stream" data-encoding="deflate" id="attnviz-bokehjs">') == 1
    assert html.count('<script type="text/plain" id="attnviz-js-attnviz-common.js">') == 1
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 2

    with offline(chromium):
        console_errors(chromium)
        requested_urls(chromium)
        chromium.get(target.as_uri())
        frames = chromium.find_elements("css selector", "iframe.attnviz-frame")
        assert len(frames) == 2
        for frame in frames:
            view = drawn_in_frame(chromium, frame, "return window.Attnviz.view()")
            assert view["width"] > 5 and view["max"] > 0
            # the heatmap is really painted: the frame shows many colours (viridis), not a blank page
            shot = imread(io.BytesIO(frame.screenshot_as_png), format="png")[..., :3]
            colours = np.unique((shot.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
            assert len(colours) > 50, len(colours)
        pngs = chromium.execute_script(  # the PNG fallbacks (hidden on screen, shown in print) decode offline
            "return Promise.all([...document.querySelectorAll('img.attnviz-print')].map(i => {"
            "  const im = new Image(); im.src = i.src; return im.decode().then(() => im.naturalWidth, () => 0); }))")
        assert len(pngs) == 2 and all(w and w > 100 for w in pngs)
        urls = [u for u in requested_urls(chromium) if not u.startswith(("file:", "data:", "about:", "blob:"))]
        assert urls == []
        assert [e for e in console_errors(chromium) if "favicon" not in e.get("message", "")] == []


# -------------------------------------------------------------------------------------------- warm

def test_warm_mkdocs_site_then_cache_only_build(site, capsys):
    site.page("index.md", '# Home\n\n```attnviz layer="1"\nWarm the cache from the command line.\n```\n')
    site.page("guide/page.md", '!!! note\n\n    ```attnviz head="max"\n    A second block, nested.\n    ```\n')
    cfg = site.config(extra="markdown_extensions:\n  - admonition",
                      plugin="cache_only: !ENV [ATTNVIZ_TEST_CACHE_ONLY, false]")
    rc, _, err = run(capsys, "warm", cfg, "--no-progress")
    assert rc == 0, err
    assert re.search(r"attnviz: 2 figures \(0 from cache, 2 rendered, 2 model runs, 0 errors\)", err)
    assert (site.root / ".cache/plugin/attnviz/extract").is_dir()
    rc, _, err = run(capsys, "warm", site.root, "--no-progress")  # the folder works too; all cached now
    assert rc == 0 and "2 figures (2 from cache, 0 rendered, 0 model runs, 0 errors)" in err

    os.environ["ATTNVIZ_TEST_CACHE_ONLY"] = "true"
    try:
        before = extract.STATS["forwards"]
        site.build(strict=True)
        assert extract.STATS["forwards"] == before
    finally:
        del os.environ["ATTNVIZ_TEST_CACHE_ONLY"]
    assert "<iframe" in (site.site / "guide/page/index.html").read_text(encoding="utf-8")


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_warm_shards_merged_by_copying_equal_one_machine(site, capsys):
    """Two shards (a CI matrix) fill two cache folders; copied into one they equal the cache one machine fills."""
    import shutil

    sentences = ["The cat sat on the mat.", "A second sentence here.", "Shards fill one cache.",
                 "Every block lands in one shard.", "The dog chased the cat."]
    site.page("index.md", "\n\n".join(f'```attnviz layer="{i % 2}"\n{t}\n```' for i, t in enumerate(sentences))
              + '\n\n```attnviz view="heads"\nThe cat sat on the mat.\n```\n')
    cfg = site.config(plugin="cache_dir: !ENV [ATTNVIZ_TEST_CACHE, cache]")
    caches = {}
    for name, shard in (("one", None), ("s1", "1/2"), ("s2", "2/2")):
        os.environ["ATTNVIZ_TEST_CACHE"] = str(site.root / name)
        try:
            rc, _, err = run(capsys, "warm", cfg, "--no-progress", *(["--shard", shard] if shard else []))
        finally:
            del os.environ["ATTNVIZ_TEST_CACHE"]
        assert rc == 0, err
        caches[name] = _tree(site.root / name)
    one, s1, s2 = caches["one"], caches["s1"], caches["s2"]
    entries = lambda tree: {k for k in tree if k.startswith(("extract/", "render/"))}  # noqa: E731
    assert entries(s1) and entries(s2) and not entries(s1) & entries(s2)  # each shard did a part, no overlap
    merged = site.root / "merged"
    for name in ("s1", "s2"):
        shutil.copytree(site.root / name, merged, dirs_exist_ok=True)
    assert _tree(merged) == one  # byte for byte
    rc, _, err = run(capsys, "warm", cfg, "--no-progress", "--shard", "3/2")
    assert rc != 0 and "--shard expects K/N" in err


def test_warm_reports_bad_blocks_with_file_and_line(site, capsys):
    site.page("index.md", '# Home\n\nText.\n\n```attnviz colour="red"\nThe cat.\n```\n')
    cfg = site.config()
    rc, _, err = run(capsys, "warm", cfg, "--no-progress")
    assert rc == 1
    assert "attnviz: docs/index.md:5: option 'colour': unknown option" in err


def test_mkdocs_settings_come_from_the_plugin_config_without_running_its_hooks(site, monkeypatch, capsys,
                                                                                tmp_path):
    from mkdocs_attnviz.plugin import AttnvizPlugin

    def hook(*args, **kwargs):
        raise AssertionError("the command must not run a plugin hook")

    monkeypatch.setattr(AttnvizPlugin, "on_config", hook)
    monkeypatch.setattr(AttnvizPlugin, "on_shutdown", hook)
    site.page("index.md", "```attnviz\nText.\n```\n")
    cfg = site.config(plugin="cache_dir: my-cache\nfont: DejaVu Sans")
    args = argparse.Namespace(device="cpu", model_path=[f"other={tmp_path}"], cache_dir=None)
    project = load_project(cfg, args)
    s = project.settings
    assert project.kind == "mkdocs" and len(project.blocks) == 1 and project.blocks[0].file == "docs/index.md"
    assert s.cache_dir == str(site.root / "my-cache") and s.font == "DejaVu Sans" and s.device == "cpu"
    assert s.models == {MODEL: site.minilm_path, "other": str(tmp_path)}  # the flag adds to the plugin's models
    assert s.docs_dir == str(site.docs) and s.base_dir == s.allowed_root == str(site.root)
    cfg = site.config(plugin="device: gpu")
    rc, _, err = run(capsys, "warm", cfg, "--no-progress")
    assert rc == 2 and "invalid attnviz plugin config: setting 'device' is 'gpu'" in err


def test_report_spec_settings_are_the_site_settings(tmp_path, capsys, minilm_path):
    spec = write_spec(tmp_path / "src", "```attnviz\nText.\n```\n", minilm_path=minilm_path, cache=tmp_path / "c")
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("title:", "font: DejaVu Sans\nfallback_png: false\ntitle:", 1), encoding="utf-8")
    project = load_project(spec, argparse.Namespace(cache_only=True, cache_dir=str(tmp_path / "flag-cache")))
    s = project.settings
    assert s.font == "DejaVu Sans" and s.fallback_png is False and s.cache_only is True
    assert s.cache_dir == str(tmp_path / "flag-cache") and s.models == {"minilm": minilm_path}
    for old, new, words in [("title:", "colour: red\ntitle:", "unknown setting(s) colour (known: cache, cache_dir"),
                            ("title:", "resources: cdn\ntitle:", "setting 'resources': a report chooses it"),
                            ("title:", "fallback_png: maybe\ntitle:", "setting 'fallback_png' must be true or false"),
                            ("  model: minilm\n", "  model: minilm\n  layer: ninety\n",
                             "setting 'defaults': option 'layer': expected a layer number")]:
        spec.write_text(text.replace(old, new, 1), encoding="utf-8")
        rc, _, err = run(capsys, "report", spec, "-o", tmp_path / "out")
        assert rc == 2 and f"spec.md: {words}" in err, (new, err)


def sphinx_project(tmp_path, minilm_path, cache) -> Path:
    pytest.importorskip("sphinx")
    src = tmp_path / "sphinx-docs"
    shutil.copytree(ROOTS / "test-attnviz-basic", src)
    with open(src / "conf.py", "a", encoding="utf-8") as fh:
        fh.write(f"attnviz_models = {{{MODEL!r}: {minilm_path!r}}}\nattnviz_cache_dir = {str(cache)!r}\n")
    return src


def test_warm_sphinx_folder(tmp_path, capsys, minilm_path):
    src = sphinx_project(tmp_path, minilm_path, tmp_path / "sphinx-cache")
    rc, _, err = run(capsys, "warm", src, "--no-progress", "--device", "cpu")
    assert rc == 0, err
    assert "2 figures (0 from cache, 2 rendered" in err
    assert len(list((tmp_path / "sphinx-cache/render").rglob("*.png"))) == 2
    (src / "bad.rst").write_text("Bad\n===\n\n.. attnviz::\n   :layer: ninety\n\n   The cat.\n", encoding="utf-8")
    rc, _, err = run(capsys, "warm", src / "conf.py", "--no-progress")
    assert rc == 1
    assert re.search(r"bad\.rst:4: option 'layer': expected a layer number", err), err
    assert "3 figures (2 from cache, 0 rendered, 0 model runs, 1 error)" in err  # the rejected block counts


# ------------------------------------------------------------------------------------------ render

def test_render_png_html_svg(tmp_path, capsys, minilm_path, shared_cache):
    common = ["--model", "minilm", "--model-path", f"minilm={minilm_path}", "--cache-dir", shared_cache,
              "--text", "The cat sat on the mat because it was tired.", "--layer", "2", "--head", "4"]
    rc, _, err = run(capsys, "render", *common, "-o", tmp_path / "fig.png")
    assert rc == 0, err
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "layer 2 of 6, head 4 of 12" in err
    rc, _, err = run(capsys, "render", *common, "-o", tmp_path / "fig.html")
    assert rc == 0, err
    page = (tmp_path / "fig.html").read_text(encoding="utf-8")
    assert 'src="bokeh.min.js"' not in page and len(page) > 1_000_000  # BokehJS inlined: works anywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.html", "fig.png"]

    rc, _, err = run(capsys, "render", *common, "-o", tmp_path / "fig.svg")
    assert rc == 0, err
    import xml.etree.ElementTree as ET

    svg = (tmp_path / "fig.svg").read_bytes()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and float(root.get("width").rstrip("pt")) > 200
    assert len(list(root.iter(f"{ns}path"))) > 20  # text drawn as paths: no font needed to read it
    assert not list(root.iter(f"{ns}text"))
    assert list(root.iter(f"{ns}image"))  # the heatmap, inlined
    rc, _, err = run(capsys, "render", *common, "-o", tmp_path / "again.svg")
    assert rc == 0 and (tmp_path / "again.svg").read_bytes() == svg  # deterministic

    rc, _, err = run(capsys, "render", *common[:-4], "--layer", "99", "-o", tmp_path / "bad.png")
    assert rc == 1 and "option 'layer': layer 99 is out of range" in err
    assert not (tmp_path / "bad.png").exists()


# ------------------------------------------------------------------------------------------- cache

def test_cache_ls_and_prune_keep_what_is_used(tmp_path, capsys, minilm_path):
    cache = tmp_path / "own-cache"
    spec = write_spec(tmp_path / "src", REPORT, minilm_path=minilm_path, cache=cache)
    rc, _, err = run(capsys, "warm", spec, "--no-progress")
    assert rc == 0, err
    rc, out, _ = run(capsys, "cache", "ls", "--cache-dir", cache)
    assert rc == 0 and len(out.splitlines()) == 4  # 2 extractions + 2 figures
    assert sum(1 for line in out.splitlines() if line.startswith("extract")) == 2

    # the page keeps one block only: the other one's entries are now unused
    spec.write_text(spec.read_text(encoding="utf-8").split("!!! note")[0], encoding="utf-8")
    rc, out, _ = run(capsys, "cache", "ls", spec)
    assert rc == 0
    assert [line.split("\t")[3] for line in out.splitlines()].count("unused") == 2
    files_before = sorted(p for p in cache.rglob("*") if p.is_file())
    rc, out, err = run(capsys, "cache", "prune", spec, "--dry-run")
    assert rc == 0 and out.count("would delete") == 2 and "would delete 2 entries" in err
    assert sorted(p for p in cache.rglob("*") if p.is_file()) == files_before
    rc, out, err = run(capsys, "cache", "prune", spec)
    assert rc == 0 and out.count("deleted") == 2 and "kept 2 in use" in err
    rc, out, _ = run(capsys, "cache", "ls", spec)
    assert len(out.splitlines()) == 2 and "unused" not in out
    # what is used is still there: a cache-only report needs no model
    before = extract.STATS["forwards"]
    rc, _, err = run(capsys, "report", spec, "-o", tmp_path / "out", "--cache-only")
    assert rc == 0, err
    assert extract.STATS["forwards"] == before

    # a block whose key cannot be computed (missing model folder) might be in use: nothing is deleted
    broken = write_spec(tmp_path / "src2", '```attnviz model="./nowhere"\nText.\n```\n', minilm_path=minilm_path,
                        cache=cache)
    files_before = sorted(p for p in cache.rglob("*") if p.is_file())
    rc, _, err = run(capsys, "cache", "prune", broken)
    assert rc == 1 and "nothing was deleted" in err and "spec.md:" in err
    assert sorted(p for p in cache.rglob("*") if p.is_file()) == files_before


def test_cache_prune_sphinx_and_mkdocs_share_a_cache(tmp_path, capsys, minilm_path, site):
    cache = tmp_path / "shared"
    src = sphinx_project(tmp_path, minilm_path, cache)
    site.page("index.md", "```attnviz\nOnly in MkDocs.\n```\n")
    cfg = site.config(plugin=f"cache_dir: {cache}")
    assert run(capsys, "warm", src, "--no-progress")[0] == 0
    assert run(capsys, "warm", cfg, "--no-progress")[0] == 0
    rc, out, err = run(capsys, "cache", "prune", src, cfg, "--dry-run")
    assert rc == 0 and "would delete 0 entries" in err and "kept 6 in use" in err
    rc, out, err = run(capsys, "cache", "prune", src)  # the MkDocs site's entries go
    assert rc == 0 and "deleted 2 entries" in err
    meta = [json.loads(p.read_text(encoding="utf-8")) for p in (cache / "render").rglob("*.json")]
    assert all("Only in MkDocs" not in m.get("alt", "") for m in meta) and len(meta) == 2
