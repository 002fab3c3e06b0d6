"""The writer's side: a cold build says which model is loading and how many figures are left; `mkdocs serve`
loads the site's models in the background once its first build is done, so the first edit does not wait."""

from __future__ import annotations

import logging

import pytest

from mkdocs_attnviz import extract, pipeline

PAGE = """# Page

```attnviz
The cat sat on the mat because it was tired.
```

```attnviz head="0"
The cat sat on the mat because it was tired.
```
"""


def test_a_cold_build_says_which_model_loads_and_how_many_figures_are_left(site, caplog, monkeypatch):
    monkeypatch.setattr(pipeline, "PROGRESS_SECONDS", 0.0)  # a line after every figure rendered
    extract.clear_models()
    site.page("index.md", PAGE)
    site.page("more.md", PAGE.replace("tired", "hungry"))
    site.config()
    with caplog.at_level(logging.INFO):
        site.build()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attnviz:")]
    assert any(line.startswith("attnviz: loading model sentence-transformers/all-MiniLM-L6-v2") for line in lines)
    progress = [line for line in lines if "figures so far" in line]
    assert progress[0].endswith("3 left") and progress[-1].endswith("0 left"), progress
    caplog.clear()
    with caplog.at_level(logging.INFO):
        site.build()  # warm: nothing to render, nothing to say but the summary
    assert not [r for r in caplog.records if "figures so far" in r.getMessage() or "loading" in r.getMessage()]


def test_serve_preloads_the_sites_models_after_its_first_build(site, caplog):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site.page("index.md", PAGE)
    site.config()
    cfg = load_config(str(site.root / "mkdocs.yml"))
    cfg.plugins.on_startup(command="build", dirty=False)
    try:
        build(cfg)  # fill the cache, as an earlier `mkdocs build` would have
    finally:
        cfg.plugins.on_shutdown()
    extract.clear_models()

    cfg = load_config(str(site.root / "mkdocs.yml"))
    cfg.plugins.on_startup(command="serve", dirty=False)
    plugin = cfg.plugins["attnviz"]
    try:
        before = dict(extract.STATS)
        with caplog.at_level(logging.INFO):
            build(cfg, serve_url="http://127.0.0.1:8000/")  # every figure from the cache: no model needed by the build
            assert extract.STATS["forwards"] == before["forwards"]
            plugin._preloading.join(timeout=300)  # noqa: SLF001 - the thread the plugin started in the background
        assert extract.STATS["loads"] == before["loads"] + 1  # the site's one model, loaded ahead of any edit
        ready = [r.getMessage() for r in caplog.records if "loaded in the background" in r.getMessage()]
        assert len(ready) == 1 and ready[0].startswith("attnviz: sentence-transformers/all-MiniLM-L6-v2 loaded")
        (site.docs / "index.md").write_text(PAGE.replace("tired", "sleepy"), encoding="utf-8")
        build(cfg, serve_url="http://127.0.0.1:8000/")  # the edit: one forward pass, no load
        assert extract.STATS["loads"] == before["loads"] + 1
        assert extract.STATS["forwards"] == before["forwards"] + 1
    finally:
        cfg.plugins.on_shutdown()


def test_attnviz_warm_keeps_its_progress_bar(site, capsys):
    from mkdocs_attnviz.cli import main

    site.page("index.md", PAGE)
    cfg = site.config()
    assert main(["warm", str(cfg), "--progress"]) == 0
    err = capsys.readouterr().err
    bar = [part for part in err.replace("\r", "\n").splitlines() if part.startswith("attnviz warm:")]
    assert bar and "100%" in bar[-1] and "2/2" in bar[-1] and "figure" in bar[-1], err
    assert main(["warm", str(cfg), "--no-progress"]) == 0
    assert "attnviz warm:" not in capsys.readouterr().err


SERVE_START = '''
import sys, threading
from mkdocs.config import load_config
cfg = load_config(sys.argv[1])
assert "torch" not in sys.modules
cfg.plugins.on_startup(command=sys.argv[2], dirty=False)
threads = [t for t in threading.enumerate() if t.name == "attnviz-import"]
for t in threads:
    t.join(timeout=300)
print(len(threads), "torch" in sys.modules, "transformers" in sys.modules)
'''


@pytest.mark.parametrize("command, plugin, expected", [("serve", "", "1 True True"), ("build", "", "0 False False"),
                                                       ("serve", "enabled: false", "0 False False")])
def test_serve_imports_torch_and_transformers_from_its_start(site, command, plugin, expected):
    """`mkdocs serve` starts importing torch and transformers in the background as it starts (before the first
    build knows the models), so that an early edit waits little; `mkdocs build` does not."""
    import subprocess
    import sys

    site.config(plugin=plugin)
    out = subprocess.run([sys.executable, "-c", SERVE_START, str(site.root / "mkdocs.yml"), command],
                         capture_output=True, text=True, timeout=600, cwd=site.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == expected
