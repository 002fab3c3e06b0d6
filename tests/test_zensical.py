"""Zensical, first class: real ``zensical build`` and ``zensical serve`` runs of projects whose ``zensical.toml`` has
one ``[project.markdown_extensions.attnviz]`` table.

Figures on a nested page with front matter, in an admonition, a list and content tabs; the first build complete;
an unchanged rebuild, a rebuild after an edit, ``--clean`` and a build started from another folder keep every
figure; ``zensical serve`` with edits too; messages name the page, the line and the option; ``on_error = "fail"``
stops the build, ``--strict`` does not see warnings; the fence registers itself whatever superfences config the site
has; nothing is written into ``docs_dir``.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from browser import chromium, console_errors, requested_urls, wait_for  # noqa: F401
from serving import free_port, serve_folder, wait_until
from zensical_support import (ATTNVIZ_TABLE, EXTENSIONS, FIGURES, Project, check_page, check_site, environment,
                              figures_of)

pytest.importorskip("zensical")


@pytest.fixture(scope="module")
def project(tmp_path_factory, minilm_path) -> Project:
    """The project of the module, built once (the model runs twice: two distinct sentences)."""
    project = Project(tmp_path_factory.mktemp("zensical") / "project", minilm_path)
    docs_before = project.docs_state()
    proc = project.build()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert project.docs_state() == docs_before  # nothing written into docs_dir
    return project


def cache_state(project: Project) -> dict[str, int]:
    cache = project.root / ".attnviz-cache"
    return {p.relative_to(cache).as_posix(): p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}


def test_first_build_is_complete(project):
    check_site(project.site)
    # the cache sits next to zensical.toml, outside Zensical's own .cache (which --clean deletes)
    assert cache_state(project) and not (project.root / ".cache" / "plugin").exists()
    # no attnviz file beside the pages: every figure travels in its page
    assert not [p for p in project.site.rglob("*") if "attnviz" in p.name or "bokeh" in p.name
                or p.suffix == ".png" and p.name != "favicon.png"]


def test_rebuilds_keep_every_figure(project, tmp_path):
    """Unchanged rebuild, an edited page, --clean, and a build started from another folder."""
    pages = {name: (project.site / name).read_bytes() for name in FIGURES}
    cache = cache_state(project)

    proc = project.build()  # nothing changed: Zensical renders no page in Python
    assert proc.returncode == 0, proc.stderr
    check_site(project.site)
    assert {name: (project.site / name).read_bytes() for name in FIGURES} == pages

    page = project.root / "docs" / "guide" / "deep" / "page.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new closing sentence.\n", encoding="utf-8")
    proc = project.build()  # one page changed: only it is rendered again
    assert proc.returncode == 0, proc.stderr
    check_site(project.site)
    assert "A new closing sentence." in (project.site / "guide/deep/page/index.html").read_text(encoding="utf-8")
    assert (project.site / "index.html").read_bytes() == pages["index.html"]

    proc = project.build("--clean")  # Zensical's cache deleted: every page rendered again, from our cache
    assert proc.returncode == 0, proc.stderr
    check_site(project.site)
    assert cache_state(project) == cache  # nothing computed again, nothing rewritten

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = project.build("--clean", cwd=elsewhere)  # relative folders are the config file's, not the cwd's
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    check_site(project.site)
    assert list(elsewhere.iterdir()) == [] and cache_state(project) == cache


def test_serve_with_edits_keeps_every_figure(project):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "zensical", "serve", "-a", f"127.0.0.1:{port}"],
                              cwd=project.root, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    index = project.root / "docs" / "index.md"
    deep = project.root / "docs" / "guide" / "deep" / "page.md"
    try:
        def settled(marker: str | None = None):
            text = (project.site / "index.html").read_text(encoding="utf-8")
            if marker is not None and marker not in text:
                return False
            check_site(project.site)
            return True

        wait_until(settled)
        index.write_text(index.read_text(encoding="utf-8") + "\nEdited while serving.\n", encoding="utf-8")
        wait_until(lambda: settled("Edited while serving."))
        # an edit that changes a figure: the new figure is built while serving
        deep.write_text(deep.read_text(encoding="utf-8").replace('view="bars" layer="1"', 'view="bars" layer="2"'),
                        encoding="utf-8")
        wait_until(lambda: "layer 2 of 6" in (project.site / "guide/deep/page/index.html").read_text("utf-8")
                   and settled())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


BAD_PAGE = '''
    ---
    title: Broken
    ---
    # A broken block

    Some text.

    ```attnviz colour="red"
    The cat sat.
    ```
    '''


@pytest.fixture(scope="module")
def shared_cache(project) -> str:
    """The module project's cache, for projects that reuse its figures (an absolute cache_dir)."""
    return str(project.root / ".attnviz-cache")


def small_project(tmp_path, minilm_path, shared_cache, *, table: str = "", extensions: str = EXTENSIONS,
                  pages: dict[str, str] | None = None) -> Project:
    table = table or ATTNVIZ_TABLE + f"cache_dir = {json.dumps(shared_cache)}\n"
    pages = pages if pages is not None else {"index.md": "# Home\n\n```attnviz\nThe cat sat on the mat because it was "
                                                         "tired.\n```\n"}
    return Project(tmp_path / "small", minilm_path, table=table, extensions=extensions, pages=pages)


def test_messages_name_page_line_and_option_and_strict_does_not_count_them(tmp_path, minilm_path, shared_cache):
    project = small_project(tmp_path, minilm_path, shared_cache, pages={"guide/broken.md": BAD_PAGE})
    proc = project.build("--strict")
    # line 8 of the file: the front matter counts
    assert "WARNING -  attnviz: docs/guide/broken.md:8: option 'colour': unknown option" in proc.stderr
    assert proc.returncode == 0  # Zensical's --strict does not see extension warnings (docs/zensical.md says so)
    assert "attnviz-error" in (project.site / "guide/broken/index.html").read_text(encoding="utf-8")
    proc = project.build()  # the page is not rendered again: no warning, the error box stays
    assert "attnviz:" not in proc.stderr
    assert "attnviz-error" in (project.site / "guide/broken/index.html").read_text(encoding="utf-8")
    proc = project.build("--clean")  # every page rendered, and reported, again
    assert "docs/guide/broken.md:8: option 'colour'" in proc.stderr

    project.configure(ATTNVIZ_TABLE + f'cache_dir = {json.dumps(shared_cache)}\non_error = "fail"\n')
    proc = project.build()
    assert proc.returncode != 0
    assert "docs/guide/broken.md:8: option 'colour': unknown option" in proc.stdout + proc.stderr


@pytest.mark.parametrize("case", ["attnviz-first", "no-superfences-table", "fence-listed-too", "attnviz-last"])
def test_the_extension_registers_its_fence_whatever_superfences_config(tmp_path, minilm_path, shared_cache, case):
    table = ATTNVIZ_TABLE + f"cache_dir = {json.dumps(shared_cache)}\n"
    extensions = {
        "attnviz-first": EXTENSIONS,
        "no-superfences-table": "[project.markdown_extensions.admonition]\n",
        "fence-listed-too": EXTENSIONS.replace(
            'custom_fences = [', 'custom_fences = [{ name = "attnviz", class = "attnviz", validator = '
            '"mkdocs_attnviz.fence.validator", format = "mkdocs_attnviz.fence.formatter" }, '),
        "attnviz-last": EXTENSIONS,
    }[case]
    if case == "attnviz-last":  # the attnviz table after the superfences one
        table, extensions = "", extensions + table
    pages = {"index.md": "# Home\n\n```attnviz\nThe cat sat on the mat because it was tired.\n```\n\n"
                         "```mermaid\ngraph LR; A-->B\n```\n"}
    project = Project(tmp_path / "p", minilm_path, table=table, extensions=extensions, pages=pages)
    proc = project.build()
    assert proc.returncode == 0, proc.stderr
    page = (project.site / "index.html").read_text(encoding="utf-8")
    assert check_page(page) == 1
    if "mermaid" in extensions:  # the site's own custom fence still works
        assert '<div class="mermaid">graph LR; A--&gt;B</div>' in page


def test_enabled_false_leaves_code_blocks(tmp_path, minilm_path, shared_cache):
    table = ATTNVIZ_TABLE + "enabled = false\n"
    project = small_project(tmp_path, minilm_path, shared_cache, table=table)
    proc = project.build()
    assert proc.returncode == 0, proc.stderr
    page = (project.site / "index.html").read_text(encoding="utf-8")
    assert not figures_of(page) and "attnviz-error" not in page and "attnviz-style" not in page
    assert "<code>The cat sat on the mat because it was tired." in page  # a plain code block


@pytest.mark.parametrize("line, message", [
    ('output_dir = "site/assets"', "output_dir cannot be set under Zensical"),
    ('colour = "red"', "unknown setting(s) colour"),
    ('on_error = "explode"', "setting 'on_error' is 'explode'"),
])
def test_an_invalid_table_stops_the_build(tmp_path, minilm_path, shared_cache, line, message):
    table = ATTNVIZ_TABLE + line + "\n"
    project = small_project(tmp_path, minilm_path, shared_cache, table=table)
    proc = project.build()
    assert proc.returncode != 0
    assert "invalid [project.markdown_extensions.attnviz] in zensical.toml" in proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_a_cache_inside_zensicals_cache_is_warned_about(tmp_path, minilm_path, shared_cache):
    table = ATTNVIZ_TABLE + 'cache_dir = ".cache/plugin/attnviz"\n'
    project = small_project(tmp_path, minilm_path, shared_cache, table=table, pages={"index.md": "# Home\n"})
    proc = project.build()
    assert "inside Zensical's .cache folder" in proc.stderr and "--clean" in proc.stderr


@pytest.fixture
def served(project):
    server = serve_folder(project.site)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.mark.browser
def test_figures_draw_in_chromium_from_the_page_alone(chromium, served):
    driver = chromium
    requested_urls(driver), console_errors(driver)  # clear the logs
    for path, count in (("guide/deep/page/", 3), ("", 1)):
        driver.get(served + path)
        frames = driver.find_elements("css selector", "iframe.attnviz-frame")
        assert len(frames) == count
        for i, frame in enumerate(frames):
            # content tabs hide their second panel: show each figure's panel before scrolling to it
            driver.execute_script("const f = arguments[0]; const tab = f.closest('.tabbed-block');"
                                  "if (tab) { const i = [...tab.parentNode.children].indexOf(tab);"
                                  "  tab.closest('.tabbed-set').querySelectorAll('input')[i].click(); }"
                                  "f.scrollIntoView();", frame)
            driver.switch_to.frame(frame)
            wait_for(driver, "window.Attnviz?.ready === true")
            heatmap = driver.execute_script("return document.getElementById('attnviz-bokeh') !== null")
            if heatmap:  # BokehJS came from the host page's one inert copy
                assert driver.execute_script("return typeof window.Bokeh === 'object'")
            driver.switch_to.default_content()
        hidden = driver.execute_script("return [...document.querySelectorAll('img.attnviz-print')]"
                                       ".map(i => getComputedStyle(i).display)")
        assert hidden == ["none"] * count  # the print PNG stays hidden on screen
    assert console_errors(driver) == []
    urls = [u for u in requested_urls(driver) if not u.startswith(("data:", "blob:", "about:", "chrome:"))]
    assert urls and all(u.startswith(served) for u in urls), urls  # offline: nothing from elsewhere


def test_attnviz_warm_fills_the_cache_of_a_zensical_project(tmp_path, minilm_path):
    """`attnviz warm zensical.toml` reads the attnviz table and the pages as the extension would, so a
    cache_only build afterwards finds every figure."""
    pages = {"index.md": "---\ntitle: Warm\n---\n# Home\n\n```attnviz layer=\"1\"\nWarmed from the command line.\n```\n"}
    project = Project(tmp_path / "w", minilm_path, pages=pages)
    warm = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "warm", str(project.root / "zensical.toml"),
                           "--no-progress"], cwd=tmp_path, env=environment(), capture_output=True, text=True,
                          timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert "1 figure (0 from cache, 1 rendered, 1 model run, 0 errors)" in warm.stderr
    assert (project.root / ".attnviz-cache" / "models.json").is_file()
    proc = subprocess.run([sys.executable, "-m", "zensical", "build"], cwd=project.root,
                          env={**environment(), "ATTNVIZ_CACHE_ONLY": "true"}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr
    assert check_page((project.site / "index.html").read_text(encoding="utf-8")) == 1

    project.page("bad.md", "---\ntitle: Bad\n---\n# Bad\n\n```attnviz colour=\"red\"\nThe cat.\n```\n")
    warm = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "warm", str(project.root), "--no-progress"],
                          cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600)
    assert warm.returncode == 1 and "docs/bad.md:6: option 'colour': unknown option" in warm.stderr


def test_figures_speak_the_sites_language(tmp_path, minilm_path, shared_cache):
    """``[project.theme] language`` is the figures' language under Zensical, as theme.language is under MkDocs."""
    project = small_project(tmp_path, minilm_path, shared_cache)
    config = project.root / "zensical.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[project.theme]\n", '[project.theme]\nlanguage = "ja"\n'),
                      encoding="utf-8")
    proc = project.build()
    assert proc.returncode == 0, proc.stderr
    page = (project.site / "index.html").read_text(encoding="utf-8")
    (figure,) = figures_of(page)
    inner = html.unescape(re.search(r'srcdoc="([^"]*)"', figure).group(1))
    assert '<html lang="ja">' in inner and "層 5（全 6 層の最終層）" in inner
    assert "<figcaption>モデル " in figure


def test_a_site_language_without_a_catalogue_warns_once(tmp_path, minilm_path, shared_cache):
    """Every page asks for the project's settings: they are built, checked and warned about once per build."""
    project = small_project(tmp_path, minilm_path, shared_cache,
                            pages={f"page{i}.md": f"# Page {i}\n\nText.\n" for i in range(4)})
    config = project.root / "zensical.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[project.theme]\n", '[project.theme]\nlanguage = "it"\n'),
                      encoding="utf-8")
    proc = project.build()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("has no translation of the figures' words") == 1, proc.stderr

