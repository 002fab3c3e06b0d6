"""``attnviz report`` draws its prose like a docs page: admonitions (``!!! note``), tables and highlighted code are
rendered and styled, in a Markdown SPEC and in a YAML SPEC's notes. The figures come from a ``data=`` matrix (no
model)."""

from __future__ import annotations

import numpy as np
from bs4 import BeautifulSoup

from mkdocs_attnviz.cli import main

PROSE = '''# A report

!!! note "Read this first"
    A note with **bold** text.

!!! warning
    Careful.

| model | layers |
|---|---|
| MiniLM | 6 |

```python
print("hello")
```

```attnviz data="m.npy" tokens="a b c"
a b c
```
'''


def build(tmp_path, name: str, text: str) -> BeautifulSoup:
    np.save(tmp_path / "m.npy", np.full((3, 3), 1 / 3))
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert main(["report", str(tmp_path / name), "-o", str(tmp_path / "out")]) == 0
    return BeautifulSoup((tmp_path / "out" / "index.html").read_text(encoding="utf-8"), "html.parser")


def styled(page: BeautifulSoup, *selectors: str) -> None:
    css = "\n".join(style.get_text() for style in page.find_all("style"))
    for selector in selectors:
        assert f"{selector} {{" in css or f"{selector}," in css, f"no style for {selector}"


def test_a_markdown_report_renders_and_styles_admonitions_tables_and_code(tmp_path):
    page = build(tmp_path, "report.md", PROSE)
    note, warning = page.select("main > div.admonition")
    assert note["class"] == ["admonition", "note"] and warning["class"] == ["admonition", "warning"]
    assert note.select_one("p.admonition-title").get_text() == "Read this first"
    assert note.select_one("p > strong").get_text() == "bold"
    assert warning.select_one("p.admonition-title").get_text() == "Warning"
    table = page.select_one("main > table")
    assert [th.get_text() for th in table.select("thead th")] == ["model", "layers"]
    assert [td.get_text() for td in table.select("tbody td")] == ["MiniLM", "6"]
    code = page.select_one("main > div.highlight > pre > code")
    assert code.get_text() == 'print("hello")\n' and code.select_one("span.nb").get_text() == "print"
    assert page.select_one("main > figure.attnviz iframe") is not None
    styled(page, ".admonition", ".admonition > .admonition-title", ".admonition.warning", "th", "td",
           ".highlight .nb", "pre", "table")


def test_a_yaml_reports_notes_are_the_same_markdown(tmp_path):
    spec = ('title: Notes\nfigures:\n  - heading: One\n    notes: |\n      !!! tip\n          Use `head="all"`.\n\n'
            '      ```python\n      x = 1\n      ```\n    data: m.npy\n    tokens: a b c\n    text: a b c\n')
    page = build(tmp_path, "report.yml", spec)
    tip = page.select_one("main > div.admonition.tip")
    assert tip.select_one("p.admonition-title").get_text() == "Tip" and tip.select_one("code").get_text() == 'head="all"'
    assert page.select_one("main > div.highlight > pre > code").get_text() == "x = 1\n"
    styled(page, ".admonition.tip", ".highlight .mi")
