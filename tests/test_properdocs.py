"""ProperDocs (PyPI ``properdocs``, the maintained fork of MkDocs 1.x) as a host: ``plugins: [attnviz]`` in
``properdocs.yml`` (and a ``mkdocs.yml`` passed with ``-f``), ``properdocs build --strict`` cold and warm, and
``properdocs serve`` with an edit. The real MiniLM runs, with the ``properdocs`` command of this venv."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from browser import chromium, drawn_in_frame  # noqa: F401  (chromium is a fixture)
from serving import free_port, wait_until

pytest.importorskip("properdocs")

ROOT = Path(__file__).resolve().parent.parent
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PROPERDOCS = str(Path(sys.executable).parent / "properdocs")
PAGE = '# Home\n\n```attnviz layer="2"\nThe cat sat on the mat.\n```\n'
SUMMARY = r"attnviz: 1 figure \((\d+) from cache, (\d+) rendered, (\d+) model runs?, 0 errors\)"


def environment() -> dict[str, str]:
    """This checkout first; no switch that silences a MkDocs 2 notice, so that we see whether one is printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_MKDOCS_2_WARNING", "DISABLE_MKDOCS_2_WARNING")}
    return {**env, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def write_project(root: Path, minilm_path: str, config: str = "properdocs.yml") -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    (root / "docs" / "index.md").write_text(PAGE, encoding="utf-8")
    (root / config).write_text(textwrap.dedent(f"""\
        site_name: ProperDocs site
        theme:
          name: material
        plugins:
          - search
          - attnviz:
              models:
                {MINILM}: {minilm_path}
              defaults:
                model: {MINILM}
        """), encoding="utf-8")
    return root


def properdocs(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROPERDOCS, *args], cwd=root, env=environment(), capture_output=True, text=True,
                          timeout=600)


def summary(stderr: str) -> tuple[int, int, int]:
    found = re.findall(SUMMARY, stderr)
    assert len(found) == 1, stderr
    return tuple(int(n) for n in found[0])


def figure_page(site: Path) -> str:
    html = (site / "index.html").read_text(encoding="utf-8")
    src = re.findall(r'<iframe class="attnviz-frame" src="([^"]+)"', html)
    assert len(src) == 1, html
    assert (site / src[0]).is_file()  # the plugin published the figure beside the page
    return html


@pytest.fixture(scope="module")
def project(tmp_path_factory, minilm_path) -> Path:
    return write_project(tmp_path_factory.mktemp("properdocs") / "project", minilm_path)


def test_build_strict_cold_then_warm(project):
    cold = properdocs(project, "build", "--strict")
    assert cold.returncode == 0, cold.stderr
    assert summary(cold.stderr) == (0, 1, 1)  # one model run
    assert "layer 2 of 6" in figure_page(project / "site")
    assert (project / ".cache" / "plugin" / "attnviz").is_dir()  # the plugin's default cache, as under MkDocs
    # no MkDocs 2 notice: Material's prints only under the `mkdocs` command, ProperDocs' own only under `mkdocs`
    assert "MkDocs 2" not in cold.stderr and "MkDocs may break" not in cold.stderr, cold.stderr
    warm = properdocs(project, "build", "--strict")
    assert warm.returncode == 0, warm.stderr
    assert summary(warm.stderr) == (1, 0, 0)  # from the cache: no model run, nothing rendered
    figure_page(project / "site")


def test_mkdocs_builds_the_same_figures_from_the_same_cache_and_material_says_why_to_move(project):
    """MkDocs 1.6 on the ProperDocs project: the cache is shared (no model run) and the figure files are the same;
    Material (which requires mkdocs<2) prints its notice under `mkdocs` unless NO_MKDOCS_2_WARNING is set."""
    from importlib.metadata import requires

    assert "mkdocs<2,>=1.6" in requires("mkdocs-material")
    if not (project / "site").is_dir():
        assert properdocs(project, "build", "--strict").returncode == 0
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "properdocs.yml", "-d", "site-mkdocs"]
    proc = subprocess.run(command, cwd=project, env=environment(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stderr) == (1, 0, 0) and "NO_MKDOCS_2_WARNING=1" in proc.stderr
    ours, theirs = project / "site" / "assets" / "attnviz", project / "site-mkdocs" / "assets" / "attnviz"
    figures = sorted(p.name for p in ours.glob("*.html"))
    assert figures and figures == sorted(p.name for p in theirs.glob("*.html"))
    assert all((ours / name).read_bytes() == (theirs / name).read_bytes() for name in figures)
    quiet = subprocess.run(command, cwd=project, env={**environment(), "NO_MKDOCS_2_WARNING": "1"},
                           capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and "NO_MKDOCS_2_WARNING" not in quiet.stderr, quiet.stderr


def test_mkdocs_yml_with_f(project, tmp_path, minilm_path):
    """A site that keeps its mkdocs.yml builds with `-f mkdocs.yml` (ProperDocs looks for properdocs.yml first)."""
    other = write_project(tmp_path / "legacy", minilm_path, config="mkdocs.yml")
    cache = project / ".cache"
    (other / ".cache").symlink_to(cache, target_is_directory=True)  # the module project's cache: a warm build
    proc = properdocs(other, "build", "--strict", "-f", "mkdocs.yml")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stderr) == (1, 0, 0)
    figure_page(other / "site")


def test_the_plugin_runs_on_properdocs_classes(project):
    """Under ProperDocs, `mkdocs.*` imports (ours: mkdocs.plugins, mkdocs.config...) are ProperDocs' modules."""
    code = ("import properdocs.replacement, sys\nfrom properdocs.config import load_config\n"
            "cfg = load_config('properdocs.yml')\nimport mkdocs_attnviz.plugin as p\n"
            "print(p.BasePlugin.__module__, type(cfg.plugins['attnviz']).__mro__[1].__module__,"
            " sys.modules['mkdocs'].__name__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, env=environment(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["properdocs.plugins", "properdocs.plugins", "properdocs"]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def test_serve_shows_the_figure_and_an_edit(project, chromium):
    port = free_port()
    server = subprocess.Popen([PROPERDOCS, "serve", "-a", f"127.0.0.1:{port}"], cwd=project, env=environment(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: "layer 2 of 6" in fetch(url))
        chromium.get(url)
        frames = chromium.find_elements("css selector", "iframe.attnviz-frame")
        assert len(frames) == 1
        drawn_in_frame(chromium, frames[0])
        page = project / "docs" / "index.md"
        page.write_text(PAGE.replace('layer="2"', 'layer="4"'), encoding="utf-8")
        wait_until(lambda: "layer 4 of 6" in fetch(url))
        chromium.get(url)
        frames = chromium.find_elements("css selector", "iframe.attnviz-frame")
        assert "layer 4 of 6" in drawn_in_frame(chromium, frames[0], "return document.title")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
        (project / "docs" / "index.md").write_text(PAGE, encoding="utf-8")
    assert "Traceback" not in output, output
    assert re.search(SUMMARY, output), output  # the plugin's summary line, under ProperDocs' logging
