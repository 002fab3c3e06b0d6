"""Nothing an author writes, commits or mistypes breaks a page or mislabels a figure (issue 17): each test is the
reproduction of the field trial — build the site, look at the output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import MINILM
from mkdocs_attnviz.cli import main

SENTENCE = "The cat sat on the mat because it was tired."


def captions(html: str) -> list[str]:
    return re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)


# -- 3. two names for one folder ------------------------------------------------------------------------------------

def test_two_names_for_one_folder_each_keep_their_label(site, minilm_path):
    site.page("index.md", f'''
        # Two names

        ```attnviz model="minilm" layer="0"
        {SENTENCE}
        ```

        ```attnviz model="{MINILM}" layer="0"
        {SENTENCE}
        ```
        ''')
    config = site.config()
    text = config.read_text(encoding="utf-8").replace("      models:\n", f"      models:\n        minilm: {minilm_path}\n")
    config.write_text(text, encoding="utf-8")
    site.build(strict=True)
    first, second = captions((site.site / "index.html").read_text(encoding="utf-8"))
    assert "Model minilm," in first and "minilm" not in second.replace(MINILM, "")
    assert f"Model {MINILM}," in second
    pages = sorted((site.site / "assets/attnviz").glob("*.html"))
    assert len(pages) == 2  # one figure page per name


def test_cli_model_name_is_the_one_asked_for(tmp_path, capsys, minilm_path):
    common = ["--model-path", f"alpha={minilm_path}", "--model-path", f"beta={minilm_path}", "--cache-dir",
              tmp_path / "cache", "--text", SENTENCE]
    for name in ("alpha", "beta"):
        rc = main([str(a) for a in ["render", "--model", name, *common, "-o", tmp_path / name / "fig.html"]])
        assert rc == 0, capsys.readouterr().err
        page = (tmp_path / name / "fig.html").read_text(encoding="utf-8")
        assert f"model {name}" in page.lower() and f"model {'beta' if name == 'alpha' else 'alpha'}" not in page


# -- 6. a damaged render entry --------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["no alt", "height x"])
def test_damaged_render_entry_is_named_and_rebuilt(site, caplog, damage):
    site.page("two.md", f'''
        # Two

        ```attnviz layer="0"
        {SENTENCE}
        ```
        ''')
    site.config()
    site.build(strict=True)
    clean = {p.name: p.read_bytes() for p in (site.site / "assets/attnviz").iterdir()}
    [entry] = (site.root / ".cache/plugin/attnviz/render").glob("*/*.json")
    meta = json.loads(entry.read_text(encoding="utf-8"))
    if damage == "no alt":
        del meta["alt"]
    else:
        meta["height"] = "x"
    entry.write_text(json.dumps(meta), encoding="utf-8")
    caplog.clear()
    site.build()
    named = f"cache entry render/{entry.parent.name}/{entry.name} has no valid "
    messages = [r.getMessage() for r in caplog.records]
    assert any(named in m and "ignored and rebuilt" in m for m in messages), messages
    assert not any("KeyError" in m or "unexpected" in m for m in messages), messages
    assert {p.name: p.read_bytes() for p in (site.site / "assets/attnviz").iterdir()} == clean
    assert "Model " in (site.site / "two/index.html").read_text(encoding="utf-8")


def test_a_published_file_changed_in_place_is_rendered_again(site, caplog):
    """A published figure file is a hard link to the cache's (nothing copied): a tool that rewrites it in place
    changes the cache's file too, which then fails its hash check and is rendered again, never published."""
    site.page("index.md", f"# One\n\n```attnviz\n{SENTENCE}\n```\n")
    site.config()
    site.build(strict=True)
    [page] = (site.site / "assets/attnviz").glob("*.html")
    clean = page.read_bytes()
    [cached] = (site.root / ".cache/plugin/attnviz/render").glob(f"*/{page.name}")
    assert cached.samefile(page)
    with open(page, "r+b") as fh:  # in place: the same file
        fh.write(b"<script>alert(1)</script>")
    caplog.clear()
    site.build()
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"render/{cached.parent.name}/{cached.name} is missing or damaged" in m for m in messages), messages
    assert page.read_bytes() == clean and cached.read_bytes() == clean


# -- 8. no build-machine path published or committed ----------------------------------------------------------------

def test_error_boxes_and_cache_hold_no_build_machine_path(site, minilm_path):
    (site.docs / "data").mkdir()
    (site.docs / "data" / "leak.csv").symlink_to("/etc/passwd")
    site.page("index.md", f'''
        # Paths

        ```attnviz data="data/leak.csv"
        a b
        ```

        ```attnviz data="data/none.csv"
        a b
        ```

        ```attnviz model="gone"
        {SENTENCE}
        ```

        ```attnviz layer="0"
        {SENTENCE}
        ```
        ''')
    config = site.config()
    text = config.read_text(encoding="utf-8").replace("      models:\n", "      models:\n        gone: .models/gone\n")
    config.write_text(text, encoding="utf-8")
    site.build()
    html = (site.site / "index.html").read_text(encoding="utf-8")
    assert "&#39;data/leak.csv&#39; points outside the project" in html
    assert "no such file: &#39;docs/data/none.csv&#39;</code>" in html
    assert "model folder &#39;.models/gone&#39; (for &#39;gone&#39;) does not exist" in html
    published = b"".join(p.read_bytes() for p in site.site.rglob("*") if p.is_file())
    for machine_path in {str(site.root), str(site.root.resolve()), "/etc/passwd", str(Path.home()) + "/"}:
        assert machine_path.encode() not in published
    cache = site.root / ".cache/plugin/attnviz"
    assert sorted(p.name for p in cache.iterdir()) == ["extract", "models.json", "render"]
    committed = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert str(site.root).encode() not in committed and str(site.root.resolve()).encode() not in committed


def test_log_lines_name_model_folders_as_the_site_config_does(site, caplog):
    """The build's log is not published, but a message there names a model folder as mkdocs.yml writes it (relative
    to the project), as the error box does, not by the build machine's absolute path."""
    import logging

    (site.root / "models" / "broken").mkdir(parents=True)
    (site.root / "models" / "broken" / "config.json").write_text("{", encoding="utf-8")
    site.page("index.md", f'''
        # Models

        ```attnviz model="gone"
        {SENTENCE}
        ```

        ```attnviz model="broken"
        {SENTENCE}
        ```
        ''')
    config = site.config()
    text = config.read_text(encoding="utf-8").replace(
        "      models:\n", "      models:\n        gone: .models/gone\n        broken: models/broken\n")
    config.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        site.build()
    lines = [r.getMessage() for r in caplog.records if "attnviz" in r.getMessage()]
    assert any("model folder '.models/gone' (for 'gone') does not exist" in line for line in lines), lines
    assert any("config.json of model 'broken' in 'models/broken' is unreadable" in line for line in lines), lines
    for machine_path in {str(site.root), str(site.root.resolve())}:
        assert not [line for line in lines if machine_path in line], lines


# -- 4. cache_dir inside a folder the host publishes ----------------------------------------------------------------

@pytest.mark.parametrize("cache_dir, where", [("docs/cache", "docs_dir (docs)"),
                                              ("site/attnviz-cache", "site_dir (site)")])
def test_mkdocs_refuses_cache_dir_inside_docs_or_site(site, caplog, cache_dir, where):
    from mkdocs.exceptions import Abort

    site.page("index.md", f"# Home\n\n```attnviz\n{SENTENCE}\n```\n")
    site.config(plugin=f"cache_dir: {cache_dir}")
    with pytest.raises(Abort):
        site.build()
    said = [r.getMessage() for r in caplog.records]
    assert any(f"setting 'cache_dir' ({cache_dir}) is inside {where}: the cache would be published" in m
               for m in said), said
    assert not (site.root / cache_dir).exists()


def test_cli_refuses_cache_dir_inside_docs(site, capsys):
    site.page("index.md", f"# Home\n\n```attnviz\n{SENTENCE}\n```\n")
    site.config(plugin="cache_dir: docs/cache")
    rc = main(["warm", str(site.root / "mkdocs.yml")])
    assert rc == 2 and "setting 'cache_dir' (docs/cache) is inside docs_dir (docs)" in capsys.readouterr().err


def test_zensical_refuses_cache_dir_inside_docs(tmp_path, minilm_path):
    pytest.importorskip("zensical")
    from zensical_support import ATTNVIZ_TABLE, Project

    project = Project(tmp_path / "z", minilm_path, table=ATTNVIZ_TABLE + 'cache_dir = "docs/attnviz"\n')
    proc = project.build()
    assert "setting 'cache_dir' (docs/attnviz) is inside docs_dir (docs)" in proc.stdout + proc.stderr
    assert not (project.root / "docs/attnviz").exists() and not (project.site / "models.json").exists()



# -- 5. font= naming a font file, and an unknown family -------------------------------------------------------------

def print_pngs(html: str) -> list[str]:
    return re.findall(r'<img class="attnviz-print" src="([^"]+\.png)"', html)


def test_font_file_is_honoured_inside_the_docs(site):
    import shutil

    import matplotlib

    (site.docs / "fonts").mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSerif.ttf", site.docs / "fonts/Serif.ttf")
    blocks = ["", ' font="fonts/Serif.ttf"', f' font="{site.docs / "fonts/Serif.ttf"}"', ' font="DejaVu Serif"']
    site.page("index.md", "# Fonts\n\n" + "".join(f'```attnviz layer="0"{b}\n{SENTENCE}\n```\n\n' for b in blocks))
    site.config()
    site.build(strict=True)
    html = (site.site / "index.html").read_text(encoding="utf-8")
    default, relative, absolute, family = [(site.site / src).read_bytes() for src in print_pngs(html)]
    assert relative != default  # the file's font, not the default one ...
    assert relative == absolute == family  # ... and the very font the file holds (DejaVu Serif)
    assert str(site.root) not in html


def test_font_path_outside_the_project_is_refused(site, tmp_path):
    site.page("index.md", f'# Fonts\n\n```attnviz font="../../outside.ttf"\n{SENTENCE}\n```\n')
    site.config()
    site.build()
    html = (site.site / "index.html").read_text(encoding="utf-8")
    assert "option &#39;font&#39;: &#39;../../outside.ttf&#39; points outside the project" in html


def test_unknown_font_family_is_one_warning_that_fails_strict(site, caplog):
    from mkdocs.exceptions import Abort

    site.page("index.md", f'# Fonts\n\n```attnviz font="No Such Family"\n{SENTENCE}\n```\n')
    site.config()
    with pytest.raises(Abort):
        site.build(strict=True)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [m for m in said if "font" in m] == [
        "attnviz: docs/index.md:3: option 'font': font 'No Such Family' is not installed here: the PNG's labels use "
        "DejaVu Sans"], said
    assert not [m for m in said if "findfont" in m]
