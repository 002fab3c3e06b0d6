"""A fence header can never break the page (issue 17, item 1): built as a user builds it, on every host.

Superfences checks a header with its own pattern before any validator sees it; a header it rejects (a bare value,
``layer=0``) used to turn the block and what followed it into one paragraph, lose the next heading, move the error
box to the end of the page and leave the header's text to Markdown. Now the fence reads every header itself: bare
values give a figure, a header it cannot read gives an error box where the block was, the rest of the page intact,
and no character of the header reaches the page unescaped.
"""

from __future__ import annotations

import json
from html import unescape
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ("sphinx.testing.fixtures",)

from browser import chromium, screenshot_array, wait_for  # noqa: F401  (chromium is a fixture)
from test_hostile_support import MODEL, iframe_srcs, mkdocs_build, write_site

HOSTILE = "<img src=x onerror=window.__pwned=1> <script>window.__pwned=2</script>"
#: each header superfences rejects, and what our message says about it
HEADERS = {
    "bare": ("layer=0 head=max", None),
    "bare-and-unknown": ("layr=0", "option 'layr': unknown option"),
    "hostile": (HOSTILE, "cannot read the options at '<img src=x onerror"),
    "attribute-list": ("{.attnviz layer=0}", "cannot read the options at '{.attnviz"),
    "unterminated": ('caption="never <b>closed</b>', "option 'caption': unterminated quote"),
}


def page_text(header: str) -> str:
    return (f"# First\n\nBefore.\n\n```attnviz {header}\nThe cat sat on the mat.\n```\n\n"
            "## Second\n\nText after the block.\n\n```python\nx = 1\n```\n")


def check_page(html: str, header: str, words: str | None, *, figure: str = '<iframe class="attnviz-frame"') -> None:
    """The block's output sits between "Before." and the heading that follows; the heading, the text and the code
    block after it survive; nothing of the header is markup."""
    before, second = html.index("Before."), html.index(">Second</h2>")
    assert html.index("Text after the block.") > second and "x</span> <span" in html or "x = 1" in html
    if words is None:
        assert before < html.index(figure) < second and 'class="attnviz-error' not in html
    else:
        box = html.index('class="attnviz-error')
        assert before < box < second and html.count('class="attnviz-error') == 1
        assert words in unescape(html[box:second]), html[box:second]
    for piece in ("<img src=x", "<script>window.__pwned", "<b>closed"):
        assert piece not in html
    if header == HOSTILE:  # a page without figure (BokehJS, carried in a Zensical page, has its own onerror)
        assert html.count("onerror") == html.count("&lt;img src=x onerror")  # only in the message, escaped


@pytest.fixture(scope="module")
def mkdocs_site(tmp_path_factory, minilm_path) -> Path:
    pages = {f"{case}.md": page_text(header) for case, (header, _) in HEADERS.items()}
    root = write_site(tmp_path_factory.mktemp("headers") / "project", {MODEL: minilm_path}, pages)
    mkdocs_build(root)
    return root / "site"


@pytest.mark.parametrize("case", HEADERS)
def test_mkdocs_page_keeps_its_shape(mkdocs_site, case):
    header, words = HEADERS[case]
    check_page((mkdocs_site / case / "index.html").read_text(encoding="utf-8"), header, words)


@pytest.mark.parametrize("case", HEADERS)
def test_plain_markdown_page_keeps_its_shape(make_md, case, caplog):
    header, words = HEADERS[case]
    html = make_md(defaults={"model": MODEL}).convert(page_text(header))
    check_page(html, header, words)
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if words:  # one message, at the block's line
        assert len(messages) == 1 and messages[0].startswith("attnviz: page.md:5: "), messages
        assert words in messages[0]
    else:
        assert messages == []


def test_zensical_page_keeps_its_shape(tmp_path, minilm_path):
    pytest.importorskip("zensical")
    from zensical_support import ATTNVIZ_TABLE, Project

    pages = {f"{case}.md": page_text(header) for case, (header, _) in HEADERS.items()}
    project = Project(tmp_path / "z", minilm_path, table=ATTNVIZ_TABLE + 'cache_dir = ".attnviz-cache"\n',
                      pages=pages)
    proc = project.build()
    assert proc.returncode == 0, proc.stderr
    for case, (header, words) in HEADERS.items():
        check_page((project.site / case / "index.html").read_text(encoding="utf-8"), header, words,
                   figure='<iframe class="attnviz-frame"')
        if words:
            assert f"docs/{case}.md:5: " in proc.stderr


def test_cli_report_keeps_its_shape(tmp_path, minilm_path):
    spec = tmp_path / "spec.md"
    spec.write_text(f"---\nmodels:\n  m: {json.dumps(minilm_path)}\ndefaults:\n  model: m\ncache_dir: cache\n---\n"
                    + page_text(HOSTILE), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "report", str(spec), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "spec.md:12: cannot read the options" in proc.stderr and "Traceback" not in proc.stderr
    check_page((tmp_path / "out" / "index.html").read_text(encoding="utf-8"), HOSTILE, HEADERS["hostile"][1])


def test_sphinx_reports_a_bad_option_in_place(make_app, tmp_path, minilm_path):
    """docutils reads the directive's field list itself: a field it cannot read is its own error, and the box
    stands where the directive was (options it reads go to our parser, as in test_sphinx.py)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_models = {{'m': {minilm_path!r}}}\n"
                                 f"attnviz_cache_dir = {str(tmp_path / 'cache')!r}\n", encoding="utf-8")
    (src / "index.rst").write_text(
        "First\n=====\n\nBefore.\n\n.. attnviz:: m\n   :layer: 0\n   :<img src=x onerror=window.__pwned=1>: 1\n\n"
        "   The cat sat on the mat.\n\nSecond\n------\n\nText after the block.\n\n.. code-block:: python\n\n   x = 1\n",
        encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    html = (Path(app.outdir) / "index.html").read_text(encoding="utf-8")
    before, second = html.index("Before."), html.index("Second<a")
    box = html.index('class="attnviz-error')
    assert before < box < second and html.index("Text after the block.") > second
    assert "field name may not contain multiple words" in unescape(html[box:second])
    assert "<img src=x" not in html and "onerror" not in html
    assert re.search(r'index\.rst:6: ERROR: Error in "attnviz" directive', app._warning.getvalue())


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory, minilm_path) -> Path:
    page = page_text(HOSTILE) + "\n```attnviz layer=0\nThe dog chased the ball.\n```\n\n## Third\n\nThe end.\n"
    root = write_site(tmp_path_factory.mktemp("hostile-header") / "project", {MODEL: minilm_path},
                      {"index.md": page})
    mkdocs_build(root)
    return root / "site"


def test_no_script_of_the_header_runs_in_chromium(chromium, hostile_site, tmp_path):
    index = hostile_site / "index.html"
    chromium.get(index.as_uri())
    wait_for(chromium, "document.readyState === 'complete'")
    chromium.execute_script("return new Promise(r => setTimeout(r, 500))")  # let any onerror fire
    assert chromium.execute_script("return window.__pwned") is None
    headings = chromium.execute_script("return [...document.querySelectorAll('h1, h2')].map(h => h.textContent.trim())")
    assert [h.rstrip("¶") for h in headings][-3:] == ["First", "Second", "Third"]
    # the box sits before "Second", the figure with the bare value between "Second" and "Third"
    order = chromium.execute_script("""
        const box = document.querySelector('.attnviz-error'), frame = document.querySelector('iframe.attnviz-frame');
        const [h2a, h2b] = [...document.querySelectorAll('h2')];
        const before = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
        return [before(box, h2a), before(h2a, frame), before(frame, h2b), document.images.length];""")
    assert order[:3] == [True, True, True]
    assert len(iframe_srcs(index.read_text(encoding="utf-8"))) == 1
    chromium.execute_script("document.querySelector('.attnviz-error').scrollIntoView()")
    shot = screenshot_array(chromium)
    assert shot.size
    chromium.save_screenshot(str(tmp_path / "bad-header.png"))
    print("screenshot:", tmp_path / "bad-header.png")
