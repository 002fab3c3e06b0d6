"""A notebook calling ``av.show`` on the real MiniLM: executed with nbclient (ipykernel, this venv's Python and this
checkout), converted with ``jupyter nbconvert --to html``, published with mkdocs-jupyter (MkDocs + Material, no
``include_requirejs``) and with myst-nb (Sphinx), and each of the three pages opened in Chromium offline: the
figures are drawn, and no request of theirs leaves the page."""

from __future__ import annotations

import io
import json
import os
import subprocess
import signal
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from browser import chromium, console_errors, drawn_in_frame, offline, requested_urls, wait_for  # noqa: F401  (chromium is a fixture)
from serving import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The quick brown fox jumps over the lazy dog."
SHOTS = os.environ.get("ATTNVIZ_SHOTS")  # a folder: keep a screenshot of each rendered page there


def minilm_folder(minilm_path: str) -> str:
    local = ROOT / ".models" / "all-MiniLM-L6-v2"
    return str(local) if local.is_dir() else minilm_path


def notebook(model: str, cache: Path):
    import nbformat

    cells = [
        nbformat.v4.new_markdown_cell("# Attention in a notebook"),
        nbformat.v4.new_code_cell("import mkdocs_attnviz as av, sys\nprint(av.__file__, sys.executable)"),
        nbformat.v4.new_code_cell(
            f"models = {{'minilm': {model!r}}}\n"
            f"av.show({SENTENCE!r}, model='minilm', models=models, cache_dir={str(cache)!r}, project=False, layer=2)"),
        nbformat.v4.new_code_cell(
            f"fig = av.show({SENTENCE!r}, model='minilm', models=models, cache_dir={str(cache)!r}, project=False,\n"
            "              view='heads', layer=1)\nfig"),
    ]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "attnviz-venv", "display_name": "attnviz (venv)", "language": "python"}})


@pytest.fixture(scope="module")
def executed(tmp_path_factory, minilm_path) -> Path:
    """The notebook, executed by a kernel that runs this venv's Python with this checkout first on its path."""
    import nbformat
    from nbclient import NotebookClient

    tmp = tmp_path_factory.mktemp("notebook")
    spec = tmp / "jupyter" / "kernels" / "attnviz-venv"
    spec.mkdir(parents=True)
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "attnviz (venv)", "language": "python", "env": env}), encoding="utf-8")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp / "jupyter")
    try:
        nb = notebook(minilm_folder(minilm_path), tmp / "cache")
        NotebookClient(nb, timeout=600, kernel_name="attnviz-venv", resources={"metadata": {"path": str(tmp)}}).execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    path = tmp / "attention.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_kernel_runs_this_checkout_and_gives_both_mime_types(executed):
    nb = json.loads(executed.read_text(encoding="utf-8"))
    first = "".join(nb["cells"][1]["outputs"][0]["text"]).split()
    assert first == [str(ROOT / "mkdocs_attnviz" / "__init__.py"), sys.executable]
    for cell in nb["cells"][2:]:
        outputs = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
        assert len(outputs) == 1, cell["outputs"]
        data = outputs[0]["data"]
        assert {"text/html", "image/png", "text/plain"} <= set(data)
        html = "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
        assert html.startswith('<div class="attnviz-notebook"') and "srcdoc=" in html
        # nothing on stderr: not even tqdm's "IProgress not found" when transformers is imported in the kernel
        assert [o for o in cell["outputs"] if o.get("name") == "stderr"] == []


def nbconvert_html(executed: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return executed.with_suffix(".html")


def mkdocs_jupyter_site(executed: Path) -> Path:
    project = executed.parent / "mkdocs-site"
    (project / "docs").mkdir(parents=True)
    (project / "docs" / "index.md").write_text("# Home\n", encoding="utf-8")
    (project / "docs" / "attention.ipynb").write_bytes(executed.read_bytes())
    (project / "mkdocs.yml").write_text(textwrap.dedent("""\
        site_name: Notebooks
        theme:
          name: material
          font: false
        nav:
          - Home: index.md
          - Attention: attention.ipynb
        plugins:
          - search
          - mkdocs-jupyter
        """), encoding="utf-8")  # include_requirejs stays off: Material's search keeps working, our figures need none
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=project, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr
    return project / "site" / "attention" / "index.html"


def myst_nb_site(executed: Path) -> Path:
    project = executed.parent / "sphinx-site"
    project.mkdir()
    (project / "conf.py").write_text('project = "Notebooks"\nextensions = ["myst_nb"]\nnb_execution_mode = "off"\n'
                                     'exclude_patterns = ["_build"]\n', encoding="utf-8")
    (project / "index.md").write_text("# Home\n\n```{toctree}\nattention\n```\n", encoding="utf-8")
    (project / "attention.ipynb").write_bytes(executed.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(project),
                           str(project / "_build")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return project / "_build" / "attention.html"


def frame_ids(driver) -> tuple[str, set[str]]:
    """The page's own frame id and those of the frames inside it."""
    tree = driver.execute_cdp_cmd("Page.getFrameTree", {})["frameTree"]
    children: set[str] = set()

    def walk(node):
        for child in node.get("childFrames", []):
            children.add(child["frame"]["id"])
            walk(child)

    walk(tree)
    return tree["frame"]["id"], children


def outgoing_requests(driver) -> list[tuple[str, str]]:
    """(frame id, URL) of every request that left the page since the last read."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                out.append((message["params"].get("frameId"), url))
    return out


@pytest.mark.parametrize("host", ["nbconvert", "mkdocs-jupyter", "myst-nb"])
def test_the_figures_are_drawn_offline(host, executed, chromium):
    page = {"nbconvert": nbconvert_html, "mkdocs-jupyter": mkdocs_jupyter_site, "myst-nb": myst_nb_site}[host](executed)
    with offline(chromium):
        console_errors(chromium)
        requested_urls(chromium)
        chromium.get(page.as_uri())
        frames = chromium.find_elements("css selector", "div.attnviz-notebook iframe.attnviz-frame")
        assert len(frames) == 2, f"{host}: the two figures of the notebook are in the page"
        for frame in frames:
            drawn_in_frame(chromium, frame)  # the figure's ready marker, no message shown
            # drawn: the frame shows many colours (viridis cells, the heads' lines), not a blank page
            shot = imread(io.BytesIO(frame.screenshot_as_png), format="png")[..., :3]
            colours = np.unique((shot.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
            assert len(colours) > 40, (host, len(colours))
        # the frame loaded, so the PNG after it (what an untrusted notebook shows) is hidden
        shown = chromium.execute_script("return [...document.querySelectorAll('div.attnviz-notebook img')]"
                                        ".map(i => getComputedStyle(i).display)")
        assert shown == ["none", "none"], (host, shown)
        main, children = frame_ids(chromium)
        assert len(children) >= 2
        outgoing = outgoing_requests(chromium)
        # what the host's own template asks for (nbconvert: require.js, MathJax) is the page's; nothing from a figure
        assert [url for frame, url in outgoing if frame != main] == [], (host, outgoing)
        assert not [url for _, url in outgoing if "bokeh" in url.lower()], outgoing
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            chromium.execute_script("arguments[0].scrollIntoView()", frames[0])
            chromium.save_screenshot(str(Path(SHOTS) / f"notebook-{host}.png"))
        errors = [e for e in console_errors(chromium) if "favicon" not in e.get("message", "")
                  and "ERR_INTERNET_DISCONNECTED" not in e.get("message", "")
                  and "net::ERR_BLOCKED" not in e.get("message", "")]
        assert not [e for e in errors if "srcdoc" in e.get("message", "") or "attnviz" in e.get("message", "")], errors


@pytest.mark.parametrize("body, dark, light", [
    ('data-jp-theme-light="false"', "setAttribute('data-jp-theme-light', 'false')",
     "setAttribute('data-jp-theme-light', 'true')"),  # JupyterLab, Notebook 7
    ('class="vscode-body vscode-dark"', "className = 'vscode-body vscode-dark'",
     "className = 'vscode-body vscode-light'"),  # VS Code's notebook outputs
])
def test_the_figure_follows_the_notebooks_theme(body, dark, light, tmp_path, minilm_path, chromium):
    import mkdocs_attnviz as av

    fig = av.show(SENTENCE, view="bars", model="minilm", models={"minilm": minilm_folder(minilm_path)},
                  cache_dir=tmp_path / "cache", project=False)
    page = tmp_path / "notebook.html"
    page.write_text(f'<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body {body}>'
                    f'{fig._repr_mimebundle_()["text/html"]}</body></html>', encoding="utf-8")
    chromium.get(page.as_uri())
    frame = chromium.find_element("css selector", "iframe.attnviz-frame")
    assert drawn_in_frame(chromium, frame, "return document.documentElement.getAttribute('data-theme')") == "dark"
    for change, theme in ((light, "light"), (dark, "dark")):  # followed live
        chromium.execute_script(f"document.body.{change}")
        chromium.switch_to.frame(frame)
        try:
            wait_for(chromium, f"document.documentElement.getAttribute('data-theme') === '{theme}'")
        finally:
            chromium.switch_to.default_content()


@pytest.mark.parametrize("app, path", [("lab", "/lab/tree/attention.ipynb"), ("notebook", "/notebooks/attention.ipynb")])
def test_jupyter_untrusted_shows_the_picture_trusted_the_figure(app, path, executed, tmp_path, chromium):
    """JupyterLab 4 and Notebook 7 sanitise the HTML of a notebook they do not trust (iframes and scripts removed):
    the PNG after the frame is what shows. Once trusted (`jupyter trust`), the figures are drawn, the PNG hidden."""
    pytest.importorskip({"lab": "jupyterlab", "notebook": "notebook"}[app])
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "attention.ipynb").write_bytes(executed.read_bytes())
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_PATH": str(executed.parent / "jupyter"), "PYTHONPATH": str(ROOT)}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", f"--port={port}",
                               "--ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
                               f"--ServerApp.root_dir={lab}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    outputs = "[...document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"text/html\"]')]"
    try:
        wait_until(lambda: urllib.request.urlopen(base + path, timeout=5).status == 200)
        chromium.get(base + path)
        wait_for(chromium, f"{outputs}.length === 2", timeout=120)
        wait_for(chromium, f"{outputs}.every(o => [...o.querySelectorAll('img')].some(i => i.naturalWidth > 100))")
        untrusted = chromium.execute_script(
            f"return {outputs}.map(o => [o.querySelectorAll('iframe').length,"
            " [...o.querySelectorAll('img')].map(i => getComputedStyle(i).display)])")
        assert untrusted == [[0, ["block"]], [0, ["block"]]], untrusted
        proc = subprocess.run([sys.executable, "-m", "jupyter", "trust", str(lab / "attention.ipynb")], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        chromium.get(base + path)
        wait_for(chromium, f"{outputs}.length === 2 && {outputs}.every(o => o.querySelector('iframe'))", timeout=120)
        # the app's light theme says so on its body, and the figures take it (see the theme test for dark)
        assert chromium.execute_script("return document.body.getAttribute('data-jp-theme-light')") == "true"
        for frame in chromium.find_elements("css selector", ".jp-OutputArea-output iframe.attnviz-frame"):
            assert drawn_in_frame(chromium, frame, "return document.documentElement.dataset.theme") == "light"
        wait_for(chromium, f"{outputs}.every(o => getComputedStyle(o.querySelector('img')).display === 'none')")
        if SHOTS:
            chromium.save_screenshot(str(Path(SHOTS) / f"notebook-jupyter-{app}.png"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=30)
