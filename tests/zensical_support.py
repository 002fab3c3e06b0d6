"""Helpers for the Zensical tests: a project in a folder, real ``zensical`` runs, and the check that every figure of
a built page carries what it needs (``from zensical_support import ...``)."""

from __future__ import annotations

import base64
import html
import os
import re
import zlib
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: one attnviz table, as docs/zensical.md tells a site to write it (the model folder is relative to zensical.toml)
ATTNVIZ_TABLE = f'''
[project.markdown_extensions.attnviz]
models = {{ "{MODEL}" = "models/minilm" }}
defaults = {{ model = "{MODEL}" }}
'''

#: the site's other Markdown extensions; its superfences has a custom fence of its own and no attnviz fence
EXTENSIONS = '''
[project.markdown_extensions.admonition]
[project.markdown_extensions.pymdownx.details]
[project.markdown_extensions.pymdownx.superfences]
custom_fences = [{ name = "mermaid", class = "mermaid", format = "pymdownx.superfences.fence_div_format" }]
[project.markdown_extensions.pymdownx.tabbed]
alternate_style = true
'''

PAGES = {
    "index.md": '''
        # Home

        ```attnviz layer="last" head="mean" caption="Mean of heads"
        The cat sat on the mat because it was tired.
        ```

        ```mermaid
        graph LR; A-->B
        ```
        ''',
    "guide/deep/page.md": '''
        ---
        title: Deep
        description: a nested page with front matter
        ---
        # Deep page

        !!! note "A figure in an admonition"
            ```attnviz view="heads"
            The dog chased the ball.
            ```

        1. A list item with a figure:

            ```attnviz layer="0" head="3"
            The dog chased the ball.
            ```

        === "Tab one"

            ```attnviz view="bars" layer="1"
            The dog chased the ball.
            ```

        === "Tab two"

            No figure here.
        ''',
}

#: the page files of the site and how many figures each shows
FIGURES = {"index.html": 1, "guide/deep/page/index.html": 3}


class Project:
    """A Zensical project: zensical.toml, docs/, and models/minilm (a link to the packaged MiniLM)."""

    def __init__(self, root: Path, minilm_path: str, *, table: str = ATTNVIZ_TABLE, extensions: str = EXTENSIONS,
                 pages: dict[str, str] | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        if not (root / "models" / "minilm").exists():
            os.symlink(minilm_path, root / "models" / "minilm")
        self.configure(table, extensions)
        for name, text in (PAGES if pages is None else pages).items():
            self.page(name, text)

    def configure(self, table: str = ATTNVIZ_TABLE, extensions: str = EXTENSIONS) -> None:
        head = '[project]\nsite_name = "attnviz under Zensical"\n[project.theme]\nfont = false\n'
        (self.root / "zensical.toml").write_text(head + table + extensions, encoding="utf-8")

    def page(self, name: str, text: str) -> Path:
        path = self.root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    @property
    def site(self) -> Path:
        return self.root / "site"

    def build(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``zensical build *args`` in the project (or at ``cwd`` with ``-f`` pointing here)."""
        where = ["-f", str(self.root / "zensical.toml")] if cwd is not None else []
        return zensical("build", *where, *args, cwd=cwd or self.root)

    def docs_state(self) -> list[tuple[str, int]]:
        return sorted((p.relative_to(self.root).as_posix(), p.stat().st_mtime_ns)
                      for p in (self.root / "docs").rglob("*"))


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def zensical(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real ``zensical`` command, with this checkout's mkdocs_attnviz."""
    return subprocess.run([sys.executable, "-m", "zensical", *args], cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def bokehjs() -> str:
    from bokeh.util.paths import bokehjs_path

    return (Path(bokehjs_path()) / "js" / "bokeh.min.js").read_text(encoding="utf-8")


def figures_of(page: str) -> list[str]:
    return re.findall(r'<figure class="attnviz".*?</figure>', page, re.S)


def check_page(page: str) -> int:
    """Assert that every figure of a built page is complete inside it; return how many figures it shows."""
    figures = figures_of(page)
    if not figures:
        return 0
    first = page.index('<figure class="attnviz"')
    style = page.find('<style class="attnviz-style">')
    assert page.count('<style class="attnviz-style">') == 1 and 0 <= style < first
    assert "figure.attnviz .attnviz-print { display: none; }" in page[style:first]  # print PNG hidden on screen
    assert page.count("<noscript><style>figure.attnviz .attnviz-frame{display:none}") == 1
    holders = {m.group(1): (m.start(), m.group(2)) for m in
               re.finditer(r'<script type="text/plain" id="(attnviz-[a-z0-9.-]+)">(.*?)</script>', page, re.S)}
    assert len(holders) == len(re.findall(r'<script type="text/plain"', page))  # each shared script once
    deflated = re.findall(r'<script type="application/octet-stream" data-encoding="deflate" id="attnviz-bokehjs">'
                          r'([A-Za-z0-9+/=]*)</script>', page)
    assert len(deflated) <= 1  # BokehJS at most once, deflated
    if deflated:
        holders["attnviz-bokehjs"] = (page.index(deflated[0]),
                                      zlib.decompress(base64.b64decode(deflated[0])).decode("utf-8"))
    for figure in figures:
        srcdoc = re.search(r'<iframe class="attnviz-frame" srcdoc="([^"]*)"', figure)
        assert srcdoc, figure[:300]
        inner = html.unescape(srcdoc.group(1))
        assert inner.startswith("<!DOCTYPE html>") and 'id="attnviz-data"' in inner
        assert not re.search(r'<script[^>]+src="(?!https?:)', inner), "a figure page links a file"
        # the shared scripts come from the page, which holds them before the figure
        used = re.findall(r'getElementById\("(attnviz-js-[A-Za-z0-9.-]+)"\)', inner)
        assert "attnviz-js-attnviz-common.js" in used
        for ident in used:
            assert ident in holders and holders[ident][0] < page.index(figure), ident
        if '"bokehjs":{"src":"bokeh.min.js"' in inner:  # a heatmap: BokehJS from the page as well
            assert holders["attnviz-bokehjs"][0] < page.index(figure)
            assert holders["attnviz-bokehjs"][1] == bokehjs()
        outside = figure.replace(srcdoc.group(1), "")
        links = re.findall(r'(?:src|href)="([^"]+)"', outside)
        assert links and all(link.startswith("data:image/png;base64,") for link in links), links
        for link in set(links):
            assert base64.b64decode(link.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert 'class="attnviz-print"' in figure
    return len(figures)


def check_site(site: Path, expected: dict[str, int] = FIGURES) -> None:
    """Every page lists its figures, each complete; no attnviz file was needed beside the pages."""
    found = {name: check_page((site / name).read_text(encoding="utf-8")) for name in expected}
    assert found == expected
