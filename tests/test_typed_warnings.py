"""A warning is one typed object (:class:`mkdocs_attnviz.errors.AttnvizWarning`: message, option, page, line) that
every host reports the same way (issue 17, item 10; issue 20): a missing glyph names option 'font' under Sphinx,
the CLI and MkDocs alike, never 'max_tokens'; Sphinx types it ``attnviz.font``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from mkdocs_attnviz.errors import AttnvizError, AttnvizWarning

pytest_plugins = ("sphinx.testing.fixtures",)

NO_GLYPH = "\U0010fffd"  # a private-use code point of plane 16: no installed font draws it


def test_warning_is_a_located_value():
    warning = AttnvizWarning("has no glyph", option="font")
    located = warning.located("docs/a.md", 5)
    assert str(located) == "docs/a.md:5: option 'font': has no glyph" and str(warning) == "option 'font': has no glyph"
    assert located.located("other.md", 9) == located  # a place once known is kept
    assert str(AttnvizError("x", option="font", page="docs/a.md", line=5)) == str(located.located(None, None)
                                                                                  ).replace("has no glyph", "x")


def test_sphinx_names_the_font_option_and_types_the_warning(make_app, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "att.npy", np.full((1, 1, 3, 3), 1 / 3))
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_cache_dir = "
                                 f"{str(tmp_path / 'cache')!r}\n", encoding="utf-8")
    (src / "index.rst").write_text(f"Home\n====\n\nText.\n\n.. attnviz::\n   :data: att.npy\n"
                                   f"   :tokens: The {NO_GLYPH} cat\n", encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    warnings = app._warning.getvalue()
    assert re.search(r"index\.rst:6: WARNING: attnviz: option 'font': 1 character\(s\) have no glyph.*"
                     r"\[attnviz\.font\]", warnings), warnings
    assert "max_tokens" not in warnings and "truncated" not in warnings


def test_cli_render_names_the_option_of_a_warning(tmp_path):
    np.save(tmp_path / "att.npy", np.full((1, 1, 3, 3), 1 / 3))
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "render", "--data", "att.npy", "--tokens",
                           f"The {NO_GLYPH} cat", "-o", "x.png", "--no-cache"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "attnviz: command line: option 'font': 1 character(s) have no glyph" in proc.stderr


def test_cli_report_names_the_option_of_a_warning(tmp_path):
    np.save(tmp_path / "att.npy", np.full((1, 1, 3, 3), 1 / 3))
    spec = tmp_path / "spec.yml"
    spec.write_text(f"- data: att.npy\n  tokens: \"The {NO_GLYPH} cat\"\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "report", str(spec), "-o", "out"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"spec\.yml:\d+: option 'font': 1 character\(s\) have no glyph", proc.stderr), proc.stderr
    assert "max_tokens" not in proc.stderr
    assert Path(tmp_path / "out" / "index.html").is_file()


def test_sphinx_types_a_cache_miss_by_the_errors_kind_not_its_words(make_app, tmp_path, minilm_path):
    """The cache miss under cache_only is typed attnviz.cache from the error's kind (no substring of its text)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_models = {{'m': {minilm_path!r}}}\n"
                                 f"attnviz_cache_dir = {str(tmp_path / 'cache')!r}\nattnviz_cache_only = True\n",
                                 encoding="utf-8")
    (src / "index.rst").write_text("Home\n====\n\n.. attnviz:: m\n\n   The cat.\n", encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    warnings = app._warning.getvalue()
    assert re.search(r"index\.rst:4: WARNING: attnviz: option 'model': the attention of this block is not in the "
                     r"cache.*\[attnviz\.cache\]", warnings), warnings
