"""The attnviz fence converted directly with Python-Markdown (no MkDocs), on the real MiniLM model."""

import logging
import re
import textwrap

import pytest

from mkdocs_attnviz.fence import AttnvizFenceError, scan

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def convert(md, text):
    return md.convert(textwrap.dedent(text))


def test_figure_html_and_files(make_md, tmp_path):
    md = make_md()
    html = convert(md, f'''
        # Title

        ```attnviz model="{MODEL}" layer="last" head="mean" caption="Mean of heads, last layer"
        The cat sat on the mat because it was tired.
        ```
        ''')
    m = re.search(r'<iframe class="attnviz-frame" src="assets/([0-9a-f]{32})\.html"', html)
    assert m, html
    key = m.group(1)
    out = tmp_path / "out"
    assert (out / f"{key}.html").is_file() and (out / f"{key}.png").is_file()
    assert (out / "attnviz.css").is_file()
    assert any(p.name.startswith("bokeh") and p.suffix == ".js" for p in out.iterdir())
    assert f'<noscript><img class="attnviz-noscript" src="assets/{key}.png"' in html
    caption = re.search(r"<figcaption>(.*?)</figcaption>", html, re.S).group(1)
    assert "Mean of heads, last layer" in caption and "all-MiniLM-L6-v2" in caption
    alt = re.search(r'alt="([^"]*)"', html).group(1)
    assert "The cat sat on the mat because it was tired." in alt and "layer" in alt


def test_body_needs_no_escaping(make_md):
    md = make_md()
    html = convert(md, f'''
        ```attnviz model="{MODEL}" caption="a <b>bold</b> & 'quoted' caption"
        She said: "x < y" -- and left.
        ```
        ''')
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert 'She said: &quot;x &lt; y&quot; -- and left.' in html or "She said: &#34;x &lt; y&#34;" in html


def test_nested_in_admonition_and_tabs(make_md):
    md = make_md()
    html = convert(md, f'''
        !!! note "Inside"

            ```attnviz model="{MODEL}"
            The cat sat on the mat.
            ```

        === "Tab"

            ```attnviz model="{MODEL}" head="0"
            The dog sat on the log.
            ```
        ''')
    assert html.count('<iframe class="attnviz-frame"') == 2


def test_examples_inside_other_fences_are_left_alone(make_md):
    md = make_md()
    html = convert(md, '''
        ````markdown
        ```attnviz layer="99" colour="red"
        Not rendered.
        ```
        ````
        ''')
    assert "attnviz-frame" not in html and "attnviz-error" not in html
    assert "```attnviz" in html


@pytest.mark.parametrize("header, body, line, words", [
    ('model="{m}" colour="red"', "x y", 4, "option 'colour': unknown option"),
    ('model="{m}" layer="99"', "The cat.", 4, "option 'layer': layer 99 is out of range: the model has 6 layers"),
    ('model="{m}" head="12"', "The cat.", 4, "option 'head': head 12 is out of range: the model has 12 heads"),
    ('model="{m}"', "   ", 4, "option 'text': the block has no sentence"),
    ('model="{m}" layer="2', "The cat.", 4, "option 'layer': unterminated quote"),
    ('model="{m}" layer="1" layer="2"', "The cat.", 4, "option 'layer': option given twice"),
    ('model="no-such-org/no-such-model"', "The cat.", 4, "option 'model':"),
])
def test_bad_blocks_warn_with_page_line_and_option(make_md, caplog, header, body, line, words):
    md = make_md()
    text = f'# T\n\nSome text.\n```attnviz {header.format(m=MODEL)}\n{body}\n```\n'
    with caplog.at_level(logging.WARNING, logger="mkdocs_attnviz"):
        html = md.convert(text)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"attnviz: page.md:{line}: "), messages[0]
    assert words in messages[0]
    assert 'class="attnviz-error' in html and "attnviz-frame" not in html


def test_missing_model_message_says_how_to_fix(make_md, caplog):
    md = make_md()
    md.convert('```attnviz model="someone/unknown-model"\nThe cat.\n```\n')
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 1, messages
    assert messages[0].startswith("attnviz: page.md:1: option 'model': model 'someone/unknown-model' is not "
                                  "available: it is not in the local Hugging Face cache"), messages[0]
    # the three ways out, each named (a plain Markdown extension's folder map is its models= argument)
    assert "give the extension models={'someone/unknown-model': 'path/to/folder'}" in messages[0]
    assert "`hf download someone/unknown-model`" in messages[0] and "cache_only" in messages[0]


def test_on_error_fail_raises_through_superfences(make_md):
    md = make_md(on_error="fail")
    with pytest.raises(AttnvizFenceError, match=r"page\.md:1: option 'layer'"):
        md.convert(f'```attnviz model="{MODEL}" layer="99"\nThe cat.\n```\n')


def test_same_sentence_shares_one_forward_pass(make_md):
    from mkdocs_attnviz import extract

    md = make_md()
    before = extract.STATS["forwards"]
    html = convert(md, f'''
        ```attnviz model="{MODEL}" head="0"
        One forward pass for both of these figures.
        ```

        ```attnviz model="{MODEL}" head="max" layer="0"
        One forward pass for both of these figures.
        ```
        ''')
    assert html.count('<iframe class="attnviz-frame"') == 2
    assert extract.STATS["forwards"] - before == 1


def test_scan_finds_lines_and_skips_other_fences():
    lines = textwrap.dedent('''
        ```python
        x = 1
        ```
        > ```attnviz layer="1"
        > A quoted one.
        > ```
        ````md
        ```attnviz
        inner
        ```
        ````
        ~~~attnviz head="max"
        Tilde.
        ~~~
        ''').split("\n")
    blocks = scan(lines)
    assert [(b.line, b.header, b.body) for b in blocks] == [(5, 'layer="1"', "A quoted one."),
                                                            (13, 'head="max"', "Tilde.")]


@pytest.mark.parametrize("order", ["superfences-first", "attnviz-first"])
def test_the_extension_alone_registers_its_fence(tmp_path, minilm_path, order):
    """No ``custom_fences`` entry: the extension adds its fence to superfences, listed before or after it, and the
    site's own custom fences keep working."""
    import markdown
    from pymdownx.superfences import fence_div_format

    from mkdocs_attnviz.fence import AttnvizExtension

    ext = AttnvizExtension(models={MODEL: minilm_path}, defaults={"model": MODEL}, cache_dir=str(tmp_path / "cache"),
                           output_dir=str(tmp_path / "out"), url="assets/")
    extensions = ["pymdownx.superfences", ext] if order == "superfences-first" else [ext, "pymdownx.superfences"]
    mermaid = {"name": "mermaid", "class": "mermaid", "format": fence_div_format}
    md = markdown.Markdown(extensions=extensions,
                           extension_configs={"pymdownx.superfences": {"custom_fences": [mermaid]}})
    html = convert(md, '''
        ```attnviz
        The cat sat on the mat because it was tired.
        ```

        ```mermaid
        graph LR; A-->B
        ```
        ''')
    key = re.search(r'<iframe class="attnviz-frame" src="assets/([0-9a-f]{32})\.html"', html).group(1)
    assert (tmp_path / "out" / f"{key}.html").is_file()
    assert '<div class="mermaid">graph LR; A--&gt;B</div>' in html
