"""Counts and silences (issue 17, item 7), each built as a user builds it: the summary counts every failed block
with the right plurals, options a model cannot use are warned about, a deeply nested data file and an output path
that cannot be written are one clean message, and a very long sentence is stated once."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_hostile_support import MODEL, mkdocs_build, write_site

pytest_plugins = ("sphinx.testing.fixtures",)

SUMMARY = re.compile(r"attnviz: (\d+ figures?) \(\d+ from cache, \d+ rendered, (\d+ model runs?), (\d+ errors?)\)")

#: two headers nobody can read, one block the option parser rejects, one good block
MIXED = """# Mixed

```attnviz <b>
The cat sat on the mat.
```

```attnviz caption="never closed
The cat sat on the mat.
```

```attnviz colour="red"
The cat sat on the mat.
```

```attnviz layer=0
The cat sat on the mat.
```
"""


def summaries(text: str) -> list[tuple[str, str, str]]:
    return SUMMARY.findall(text)


def test_mkdocs_summary_counts_every_failed_block(tmp_path, minilm_path, caplog):
    root = write_site(tmp_path / "p", {MODEL: minilm_path}, {"index.md": MIXED, "one.md": "```attnviz layr=1\nx\n```\n"})
    with caplog.at_level(logging.INFO):
        mkdocs_build(root)
    assert summaries(caplog.text) == [("5 figures", "1 model run", "4 errors")]


def test_mkdocs_one_bad_block_says_one_figure_one_error(tmp_path, minilm_path, caplog):
    root = write_site(tmp_path / "p", {MODEL: minilm_path}, {"index.md": "# One\n\n```attnviz layr=1\nThe cat.\n```\n"})
    with caplog.at_level(logging.INFO):
        mkdocs_build(root)
    assert summaries(caplog.text) == [("1 figure", "0 model runs", "1 error")]


def test_sphinx_summary_counts_rejected_blocks(make_app, tmp_path, minilm_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_models = {{'m': {minilm_path!r}}}\n"
                                 f"attnviz_cache_dir = {str(tmp_path / 'cache')!r}\n", encoding="utf-8")
    (src / "index.rst").write_text("Home\n====\n\n.. attnviz:: m\n   :colour: red\n\n   The cat.\n\n"
                                   ".. attnviz:: m\n   :a b: 1\n\n   The cat.\n", encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    assert summaries(app._status.getvalue()) == [("2 figures", "0 model runs", "2 errors")]


def test_cli_report_summary_counts_unreadable_headers(tmp_path, minilm_path):
    spec = tmp_path / "spec.md"
    spec.write_text(f"---\nmodels:\n  {MODEL}: {json.dumps(minilm_path)}\ndefaults:\n  model: {MODEL}\n"
                    f"cache_dir: cache\n---\n" + MIXED, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "report", str(spec), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert summaries(proc.stderr) == [("4 figures", "1 model run", "3 errors")], proc.stderr


# ------------------------------------------------------------------------- options a model cannot use

@pytest.mark.parametrize("model, header, option", [
    ("minilm", 'target="Le chat."', "target"),
    ("minilm", 'max_new_tokens="5"', "max_new_tokens"),
    ("gpt2", 'target="more"', "target"),
    ("gpt2", 'max_new_tokens="5"', "max_new_tokens"),
])
def test_options_the_model_cannot_use_are_warned_about(tmp_path, minilm_path, tiny_gpt2, caplog, model, header,
                                                       option):
    from mkdocs.exceptions import Abort

    page = f"# P\n\nText.\n\n```attnviz model=\"{model}\" {header}\nThe cat sat.\n```\n"
    root = write_site(tmp_path / "p", {MODEL: minilm_path, "minilm": minilm_path, "gpt2": tiny_gpt2},
                      {"index.md": page})
    with caplog.at_level(logging.WARNING):
        mkdocs_build(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"attnviz: docs/index.md:5: option '{option}': is ignored")
    assert "iframe" in (root / "site" / "index.html").read_text(encoding="utf-8")  # the figure is still built
    caplog.clear()
    with pytest.raises(Abort):  # strict: a warning fails the build (the second build is warm: warned again)
        mkdocs_build(root, strict=True)


# ------------------------------------------------------------------------------------------ data= and -o

def test_deeply_nested_json_names_the_data_option(make_md, tmp_path, caplog):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    md = make_md(root=str(tmp_path))
    html = md.convert('```attnviz data="deep.json"\nThe cat.\n```\n')
    message = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(message) == 1 and "option 'data': deep.json could not be read as JSON: it is nested too deeply" \
        in message[0], message
    assert "RecursionError" not in html and 'class="attnviz-error' in html


@pytest.mark.parametrize("target", ["afile/x.png", "/proc/x.png"])
def test_render_to_a_path_that_cannot_be_written_is_one_line(tmp_path, minilm_path, target):
    (tmp_path / "afile").write_text("a file", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "render", "--model", minilm_path,
                           "--text", "The cat.", "-o", target], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode in (1, 2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnviz:") and target in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------- long sentence

def test_a_long_sentence_is_stated_once_and_cut_in_titles(make_md, tmp_path):
    words = ("word%d " % i for i in range(20_000))
    sentence = "".join(words)[:100_000].strip()
    md = make_md(defaults={"model": MODEL})
    html = md.convert(f"```attnviz\n{sentence}\n```\n")
    titles = re.findall(r'(?:title|alt)="([^"]*)"', html)
    # the sentence cut (…) in each, then what the figure shows (the keys most attended to: mkdocs_attnviz.alternative)
    assert len(titles) == 3, titles
    for t in titles:
        said = t.split(" for: ", 1)[1]
        assert "…" in said and len(said.split("…")[0]) < 300 and len(t) < 1000, t
    # the page holds no more for 100,000 characters than for a short sentence (the figure's own file shows the
    # tokens): the embed snippet and the host script are the same size either way
    short = make_md(defaults={"model": MODEL}).convert("```attnviz\nword0 word1 word2\n```\n")
    assert len(html) - len(short) < 1_500, (len(html), len(short))
