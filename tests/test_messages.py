"""Messages that send users the right way (issue 17, item 9), each on the host it concerns: "did you mean" for
block options, views and site settings; "model not available" says `hf download` and where this host keeps its
settings; under Zensical a bad table, a bad ATTNVIZ_CACHE_ONLY or on_error = "fail" is one clean message naming
the config file actually read."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from test_hostile_support import MODEL, mkdocs_build, write_site

pytest_plugins = ("sphinx.testing.fixtures",)

MISSING = "nobody/no-such-model"


@pytest.mark.parametrize("header, words", [
    ("layr=1", "option 'layr': unknown option (known options: "),
    ('view="heatmp"', "option 'view': expected one of heatmap"),
])
def test_block_options_and_views_get_did_you_mean(make_md, caplog, header, words):
    make_md(defaults={"model": MODEL}).convert(f"```attnviz {header}\nThe cat.\n```\n")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and words in messages[0], messages
    assert messages[0].endswith("did you mean 'layer'?" if "layr" in header else "did you mean 'heatmap'?")


def test_mkdocs_plugin_key_gets_did_you_mean(tmp_path, minilm_path, caplog):
    from mkdocs.exceptions import Abort

    root = write_site(tmp_path / "p", {MODEL: minilm_path}, {"index.md": "# Home\n"}, plugin="cache_dirr: x\n")
    with caplog.at_level(logging.WARNING), pytest.raises(Abort):
        mkdocs_build(root, strict=True)
    assert "Unrecognised configuration name: cache_dirr; did you mean 'cache_dir'?" in caplog.text


def test_sphinx_conf_name_gets_did_you_mean(make_app, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['mkdocs_attnviz.sphinx']\nattnviz_model = {}\n", encoding="utf-8")
    (src / "index.rst").write_text("Home\n====\n", encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    assert "unknown setting 'attnviz_model'; did you mean 'attnviz_models'? [attnviz.config]" in app._warning.getvalue()


# ------------------------------------------------------------------------------- model not available

def test_mkdocs_advice_names_mkdocs_yml(tmp_path, minilm_path, caplog):
    root = write_site(tmp_path / "p", {MODEL: minilm_path}, {"index.md": f'```attnviz model="{MISSING}"\nThe cat.\n```\n'})
    with caplog.at_level(logging.WARNING):
        mkdocs_build(root)
    assert f"`hf download {MISSING}`" in caplog.text and "huggingface-cli" not in caplog.text
    assert "under `models:` of the attnviz plugin in mkdocs.yml" in caplog.text


def test_sphinx_advice_names_attnviz_models(make_app, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nattnviz_cache_dir = "
                                 f"{str(tmp_path / 'cache')!r}\n", encoding="utf-8")
    (src / "index.rst").write_text(f"Home\n====\n\n.. attnviz:: {MISSING}\n\n   The cat.\n", encoding="utf-8")
    app = make_app("html", srcdir=src)
    app.build()
    text = app._warning.getvalue()
    assert f"attnviz_models in conf.py (attnviz_models = {{'{MISSING}': 'path/to/folder'}})" in text, text
    assert "`models:`" not in text


def test_cli_render_advice_names_model_path(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "render", "--model", MISSING, "--text",
                           "The cat.", "-o", "x.png", "--no-cache"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1
    assert f"pass --model-path {MISSING}=path/to/folder" in proc.stderr and f"hf download {MISSING}" in proc.stderr


# ------------------------------------------------------------------------------------------ Zensical

def zensical_project(tmp_path, minilm_path, table: str, page: str = "# Home\n") -> "object":
    pytest.importorskip("zensical")
    from zensical_support import Project

    project = Project(tmp_path / "z", minilm_path, table=table, pages={"index.md": page})
    (project.root / "zensical.toml").rename(project.root / "other.toml")
    return project


@pytest.mark.parametrize("case", ["typo", "env", "fail", "missing-model"])
def test_zensical_failures_are_one_clean_message_naming_the_file_read(tmp_path, minilm_path, case):
    from zensical_support import ATTNVIZ_TABLE, zensical

    table = ATTNVIZ_TABLE + 'cache_dir = ".attnviz-cache"\n'
    page = "# Home\n"
    env = {}
    if case == "typo":
        table += 'cache_dirr = "x"\n'
    elif case == "env":
        env = {"ATTNVIZ_CACHE_ONLY": "maybe"}
    elif case == "fail":
        table += 'on_error = "fail"\n'
        page = "# Home\n\n```attnviz layr=1\nThe cat.\n```\n"
    else:
        page = f'# Home\n\n```attnviz model="{MISSING}"\nThe cat.\n```\n'
    project = zensical_project(tmp_path, minilm_path, table, page)
    os.environ.update(env)
    try:
        proc = zensical("build", "-f", "other.toml", cwd=project.root)
    finally:
        for key in env:
            os.environ.pop(key)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    if case == "missing-model":
        assert proc.returncode == 0
        assert "the [project.markdown_extensions.attnviz] table of other.toml" in out and "hf download" in out
        return
    assert proc.returncode != 0
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, out
    expected = {"typo": "invalid [project.markdown_extensions.attnviz] in other.toml: unknown setting(s) cache_dirr",
                "env": "ATTNVIZ_CACHE_ONLY='maybe': expected true or false",
                "fail": "docs/index.md:3: option 'layr': unknown option"}[case]
    assert expected in errors[0], errors
    if case == "typo":
        assert errors[0].endswith("did you mean 'cache_dir' (for 'cache_dirr')?")
    assert "zensical.toml" not in out
