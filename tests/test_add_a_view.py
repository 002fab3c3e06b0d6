"""A view is one module, one script and one registry line: a copy of the package gets a new view that way — and
nothing else — and a MkDocs build renders it (page, picture, alt text, its words), and the page draws it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mkdocs_attnviz
from mkdocs_attnviz.toolkit.page import templates_dir

from browser import chromium, drawn_in_frame  # noqa: F401

MODULE = '''
"""``view="diag"``: the weight each token gives itself, per layer (a test's view)."""

from __future__ import annotations

from ..i18n import N_
from ..toolkit import mpl
from .base import CANVAS_SCRIPTS, View, canvas_data, canvas_page


class Diag(View):
    name = "diag"
    scripts = CANVAS_SCRIPTS + ("view-diag.js",)
    title = N_("Diagonal view")
    words = {"title_diag": N_("Diagonal: {description}")}

    def natural_height(self, fig):
        return 160

    def page(self, fig, frame):
        data, blobs = canvas_data(fig, frame, {fig.part.name: fig.part})
        return canvas_page(fig, frame, self, data, blobs)

    def picture(self, fig, frame):
        from matplotlib.figure import Figure

        out = Figure(figsize=(3, 2), dpi=100)
        out.add_subplot().plot(fig.part.f32[-1].mean(0).diagonal())
        return mpl.save_figure(out, dpi=100, facecolor="white")


VIEW = Diag()
'''

SCRIPT = '''// @ts-check
/* the diagonal view of a test: the weight each token gives itself in the initial layer (mean of the heads) */
(function () {
  "use strict";
  var V = window.Attnviz.canvas;
  if (!V) return;
  var data = V.data, set = data.sets[data.set];
  V.guard(V.layer(data.set, Number(data.layer)).then(function (u8) {
    var m = V.headMatrix(u8, data.set, "mean"), diag = [];
    for (var i = 0; i < set.nq; i++) diag.push(m[i * set.nk + i]);
    var cv = V.canvas(V.plotWidth(), 100);
    cv.ctx.font = V.font(11);
    cv.ctx.fillText(diag.map(function (v) { return v.toFixed(2); }).join(" "), 8, 50);
    V.setTitle("title_diag", [data.who]);
    V.ready({ view: "diag", diag: diag });
  }));
})();
'''


@pytest.fixture(scope="module")
def with_diag(tmp_path_factory):
    """A copy of the package (and its templates) with the view added: one module, one script, one line."""
    root = tmp_path_factory.mktemp("with-diag")
    package = root / "mkdocs_attnviz"
    shutil.copytree(Path(mkdocs_attnviz.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(templates_dir(), root / "templates")
    (package / "views" / "diag.py").write_text(MODULE, encoding="utf-8")
    (root / "templates" / "view-diag.js").write_text(SCRIPT, encoding="utf-8")
    registry = package / "views" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    line = '    "summary": ("summary", True),\n'
    assert line in text
    registry.write_text(text.replace(line, line + '    "diag": ("diag", True),\n'), encoding="utf-8")
    return root


def test_a_new_view_is_one_module_one_script_one_line(with_diag, site, chromium):
    site.page("index.md", '''
        # Diagonal

        ```attnviz view="diag" layer="last"
        The cat sat on the mat.
        ```
        ''')
    site.config()
    env = {**os.environ, "PYTHONPATH": str(with_diag), "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    probe = subprocess.run([sys.executable, "-c", textwrap.dedent('''
        import json, mkdocs_attnviz
        from mkdocs_attnviz import texts, views
        print(json.dumps([mkdocs_attnviz.__file__, views.NAMES, texts.view_titles()["diag"],
                          texts.Texts("ja").static_texts()["title_diag"]]))
        ''')], env=env, cwd=site.root, capture_output=True, text=True, timeout=120)  # not in a checkout: its '' wins
    assert probe.returncode == 0, probe.stderr
    where, names, title, words = json.loads(probe.stdout)
    assert where.startswith(str(with_diag)) and "diag" in names
    assert (title, words) == ("Diagonal view", "Diagonal: {description}")  # untranslated: English in every language
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=site.root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    html = (site.site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<iframe class="attnviz-frame" src="[^"]+" title="Diagonal view of model ', html)
    assert re.search(r'<img class="attnviz-print" src="[^"]+\.png" alt="Diagonal view of ', html)
    assert list(site.site.rglob("view-diag.js"))  # published with the shared scripts
    chromium.get((site.site / "index.html").as_uri())
    frame = chromium.find_element("css selector", "iframe.attnviz-frame")
    state = drawn_in_frame(chromium, frame, "return [window.Attnviz.state(), document.title]")
    assert state[0]["view"] == "diag" and len(state[0]["diag"]) >= 6 and all(0 < v <= 1 for v in state[0]["diag"])
    assert state[1].startswith("Diagonal: model ")
