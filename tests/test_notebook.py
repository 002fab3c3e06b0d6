"""``av.show`` in a notebook: the directive's options and checks, the MIME bundle, saving, the project's cache.

The real MiniLM runs (``.models/all-MiniLM-L6-v2``, the packaged model). What a notebook does with the figure
(nbclient, nbconvert, mkdocs-jupyter, myst-nb, Chromium) is in ``test_notebook_render.py``."""

from __future__ import annotations

import base64
import html
import logging
import re
import textwrap
from pathlib import Path

import pytest

import mkdocs_attnviz as av
from mkdocs_attnviz.notebook import notebook_settings, project_config

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "The cat sat on the mat."


@pytest.fixture(scope="module")
def nb_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook-cache")


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """A folder with no project config above it (tmp_path), made the current folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def show(minilm_path, cache, **options):
    return av.show(SENTENCE, model="minilm", models={"minilm": minilm_path}, cache_dir=cache, project=False,
                   **options)


def test_show_gives_html_png_and_text(here, minilm_path, nb_cache):
    fig = show(minilm_path, nb_cache, layer=2, values=True)
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and png == fig.png
    assert bundle["text/plain"] == f"<attnviz figure: {fig.description}>" and "layer 2 of 6" in fig.description
    out = bundle["text/html"]
    # one iframe whose srcdoc is the whole figure page: no URL outside the page, BokehJS inside
    frames = re.findall(r'<iframe [^>]*srcdoc="([^"]*)"', out)
    assert len(frames) == 1
    page = html.unescape(frames[0])
    assert page == fig.page and page.startswith("<!DOCTYPE html>")
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?!data:)', page + out)
    assert "Bokeh" in page and 'id="attnviz-data"' in page
    # the PNG after the frame (what a sanitiser leaves), hidden when the frame loads
    assert re.search(r'</iframe><img class="attnviz-print" src="data:image/png;base64,', out)
    assert 'onload="' in out
    # include/exclude: the frontend picks
    assert set(fig._repr_mimebundle_(include=["image/png"])) == {"image/png"}
    assert "text/html" not in fig._repr_mimebundle_(exclude=["text/html"])


def test_options_go_through_the_directive_parser(here, minilm_path, nb_cache):
    with pytest.raises(av.AttnvizError, match=r"^av.show: option 'layer': layer 9 is out of range"):
        show(minilm_path, nb_cache, layer=9)
    with pytest.raises(av.AttnvizError, match=r"option 'colour': unknown option \(known options: aggregate"):
        show(minilm_path, nb_cache, colour="red")
    with pytest.raises(av.AttnvizError, match=r"option 'special_tokens'"):
        show(minilm_path, nb_cache, special_tokens="maybe")
    with pytest.raises(av.AttnvizError, match=r"setting 'device' is 'gpu9'"):
        show(minilm_path, nb_cache, device="gpu9")
    with pytest.raises(av.AttnvizError, match="no model given"):
        av.show(SENTENCE, project=False, cache_dir=nb_cache)
    with pytest.raises(av.AttnvizError, match="no sentence"):
        av.show("  ", model="minilm", models={"minilm": minilm_path}, project=False, cache_dir=nb_cache)


def test_views_languages_and_booleans(here, minilm_path, nb_cache):
    fig = show(minilm_path, nb_cache, view="heads", layer=1, lang="de")
    assert "Schicht" in fig.description or "Ebene" in fig.description, fig.description
    assert '<html lang="de">' in fig.page
    bars = show(minilm_path, nb_cache, view="bars", query="cat", special_tokens="hide")
    assert bars.figure.spec.view == "bars" and bars.figure.spec.special_tokens == "hide"
    assert show(minilm_path, nb_cache, values=False).figure.spec.values == "false"


def test_save_html_png_svg(here, minilm_path, nb_cache):
    fig = show(minilm_path, nb_cache, layer=0, head=3)
    assert fig.save(here / "out" / "f.html").read_text(encoding="utf-8") == fig.page
    assert fig.save("f.png").read_bytes() == fig.png
    svg = fig.save(here / "f.svg").read_bytes()
    assert svg.lstrip().startswith((b"<?xml", b"<svg")) and b"<path" in svg
    with pytest.raises(av.AttnvizError, match=r"must end in \.html, \.png or \.svg"):
        fig.save("f.pdf")


def test_several_figures_do_not_collide(here, minilm_path, nb_cache):
    a, b = show(minilm_path, nb_cache, layer=0), show(minilm_path, nb_cache, layer=1)
    ha, hb = a._repr_mimebundle_()["text/html"], b._repr_mimebundle_()["text/html"]
    assert a.figure.key != b.figure.key and f'data-attnviz="{a.figure.key}"' in ha
    # each figure is its own document: no id of a figure page is in the notebook's page
    assert 'id="' not in re.sub(r'srcdoc="[^"]*"', "", ha + hb)


def test_cache_is_shared_with_the_site_of_the_project(tmp_path, monkeypatch, minilm_path, caplog):
    """A notebook in docs/ finds mkdocs.yml above it and uses the site's cache, models map and defaults: the site's
    build then runs no model."""
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    (project / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: Shared
        plugins:
          - attnviz:
              cache_dir: figures-cache
              models:
                {MINILM}: {minilm_path}
              defaults:
                model: {MINILM}
        """), encoding="utf-8")
    (project / "docs" / "index.md").write_text(f'# Home\n\n```attnviz layer="3"\n{SENTENCE}\n```\n', encoding="utf-8")
    monkeypatch.chdir(project / "docs")
    assert project_config() == project / "mkdocs.yml"
    settings = notebook_settings()
    assert settings.cache_dir == str(project / "figures-cache") and settings.resources == "inline"
    fig = av.show(SENTENCE, layer=3)  # the model from the site's defaults, its folder from the site's map
    assert fig.figure.spec.model == MINILM and (project / "figures-cache").is_dir()
    assert fig.builder.stats["extractions"] == 1

    from test_hostile_support import mkdocs_build

    monkeypatch.chdir(project)
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.attnviz"):
        mkdocs_build(project)
    # the attention came from the notebook's run; the site renders its own page (resources: local)
    assert re.search(r"attnviz: 1 figure \(0 from cache, 1 rendered, 0 model runs, 0 errors\)", caplog.text), caplog.text


def test_without_a_project_the_cache_is_the_plugins_default_here(here):
    assert project_config() is None
    settings = notebook_settings()
    assert settings.cache_dir == str(here / ".cache" / "plugin" / "attnviz")
    assert notebook_settings(cache_dir="c", device="cpu").cache_dir == str(here / "c")


def test_a_properdocs_yml_without_the_plugin_keeps_the_default_cache_there(tmp_path, monkeypatch):
    (tmp_path / "properdocs.yml").write_text("site_name: P\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("site_name: M\n", encoding="utf-8")
    (tmp_path / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "nb")
    assert project_config() == tmp_path / "properdocs.yml"  # ProperDocs' own order
    with pytest.raises(av.AttnvizError, match=r"properdocs.yml: the project's config is invalid .*project=False"):
        notebook_settings()  # no docs folder
    (tmp_path / "docs").mkdir()
    assert notebook_settings().cache_dir == str(tmp_path / ".cache" / "plugin" / "attnviz")


def test_python_values_become_block_values(here):
    import numpy as np

    weights = np.full((3, 3), 1 / 3, dtype=np.float32)
    np.save(here / "att.npy", weights)
    fig = av.show("", data="att.npy", tokens=["a b", "c", "d"], values=True, project=False, cache_dir="cache")
    assert fig.figure.spec.tokens == ("a b", "c", "d") and fig.figure.spec.values == "true"
    assert fig.figure.spec.data == str(here / "att.npy")  # relative to the current folder


def test_page_sizes_heatmap_carries_bokehjs_canvas_views_do_not(here, minilm_path, nb_cache):
    heatmap = show(minilm_path, nb_cache)
    assert 1_000_000 < len(heatmap.page) < 1_600_000  # "about 1.3 MB" in docs/notebooks.md
    for view in ("heads", "bars", "model", "summary"):
        assert 40_000 < len(show(minilm_path, nb_cache, view=view).page) < 100_000, view  # "40–100 KB"


def test_project_names_a_config_or_its_folder(tmp_path, monkeypatch, minilm_path):
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "zensical.toml").write_text(textwrap.dedent(f"""\
        [project]
        site_name = "Z"
        [project.markdown_extensions.attnviz]
        models = {{ "minilm" = "{minilm_path}" }}
        """), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for project in (site, site / "zensical.toml"):
        settings = notebook_settings(project=project, models={"other": "models/other"})
        assert settings.cache_dir == str(site / ".attnviz-cache")  # Zensical's cache folder for that project
        assert settings.models == {"minilm": minilm_path, "other": str(tmp_path / "models" / "other")}
    assert notebook_settings(project=False).cache_dir == str(tmp_path / ".cache" / "plugin" / "attnviz")
    with pytest.raises(av.AttnvizError, match="holds none of properdocs.yml"):
        notebook_settings(project=tmp_path)
