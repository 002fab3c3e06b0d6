"""A real Chromium opens a built site whose sentence, pair, caption and id hold script injections:
no injected script runs, and the figure still draws (docs/reliability.md, "Injection")."""

from __future__ import annotations

import pytest

from browser import chromium, screenshot_array, wait_for  # noqa: F401  (chromium is a fixture)
from test_hostile_support import IMG, MODEL, SCRIPT, iframe_srcs, mkdocs_build, write_site

PAGE = f"""# Injected

~~~attnviz caption='{SCRIPT} {IMG}' pair='{SCRIPT} {IMG} pair'
{SCRIPT} {IMG} sentence
~~~

~~~attnviz id='{IMG}'
The cat sat on the mat.
~~~

~~~attnviz id="{SCRIPT}"
The cat sat on the mat.
~~~
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_path):
    root = write_site(tmp_path_factory.mktemp("browser") / "project", {MODEL: minilm_path}, {"index.md": PAGE})
    mkdocs_build(root)
    return root / "site"


def test_no_injected_script_runs_and_the_figure_draws(chromium, built):
    index = built / "index.html"
    chromium.get(index.as_uri())
    wait_for(chromium, "document.readyState === 'complete'")
    assert chromium.execute_script("return document.querySelectorAll('figure.attnviz').length") == 1
    assert chromium.execute_script("return document.querySelectorAll('.attnviz-error').length") == 2
    caption = chromium.execute_script("return document.querySelector('figure.attnviz figcaption').textContent")
    assert caption.startswith(f"{SCRIPT} {IMG}")  # shown as text
    chromium.execute_script("return new Promise(r => setTimeout(r, 500))")  # let any onerror fire
    assert chromium.execute_script("return window.__pwned") is None

    src = iframe_srcs(index.read_text(encoding="utf-8"))[0]
    chromium.get((built / src).as_uri())
    wait_for(chromium, "window.Attnviz?.ready === true || document.getElementById('attnviz-message').hidden === false")
    assert chromium.execute_script("return document.getElementById('attnviz-message').hidden")
    assert chromium.execute_script("return window.Attnviz?.ready") is True  # the figure drew
    box = chromium.execute_script("return window.Attnviz.frame()")
    shot = screenshot_array(chromium)
    pixels = shot[int(box["y"]) + 1:int(box["y"] + box["height"]) - 1, int(box["x"]) + 1:int(box["x"] + box["width"]) - 1]
    assert pixels.size and pixels.std() > 20  # a real heatmap, not a blank frame
    chromium.execute_script("return new Promise(r => setTimeout(r, 500))")
    assert chromium.execute_script("return window.__pwned") is None
