"""Packaging: templates ship inside the wheel and are found from a source/editable checkout too."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_templates_and_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next(tmp_path.glob("mkdocs_attnviz-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        templates = {Path(n).name for n in names if n.startswith("mkdocs_attnviz/templates/")}
        assert {p.name for p in (ROOT / "templates").iterdir() if p.is_file()} <= templates
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "[mkdocs.plugins]" in text and "attnviz = mkdocs_attnviz.plugin:AttnvizPlugin" in text
    assert "[console_scripts]" in text and "attnviz = mkdocs_attnviz.cli:main" in text
    assert {"mkdocs_attnviz/cli/__init__.py", "mkdocs_attnviz/cli/__main__.py"} <= names  # python -m works too
    from mkdocs_attnviz import live

    # the runtime of live figures and its licences travel inside the package (no CDN)
    assert {f"mkdocs_attnviz/vendor/runtime/{name}" for name in live.runtime_files()} <= names


def test_templates_found_from_this_checkout():
    from mkdocs_attnviz.toolkit import page

    folder = Path(page.templates_dir())
    assert (folder / "figure.html.jinja").is_file()
    assert (folder / "embed.html.jinja").is_file()


def test_plugin_entry_point_is_installed():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="mkdocs.plugins")}
    assert eps.get("attnviz") == "mkdocs_attnviz.plugin:AttnvizPlugin"


def test_importing_the_package_is_light():
    code = ("import sys, mkdocs_attnviz, mkdocs_attnviz.fence, mkdocs_attnviz.pipeline, mkdocs_attnviz.extract;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'sphinx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
