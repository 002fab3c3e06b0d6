"""The writer's side: a cold build says which model is loading and how many figures are left; `mkdocs serve`
warms up in the background from its start (torch and transformers beside the first build, then the site's models
once that build has named them), so the first edit waits little."""

from __future__ import annotations

import logging

import pytest

from mkdocs_attnviz import extract, pipeline
from mkdocs_attnviz.modelrefs import ModelRefs

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
            plugin.warmup.thread.join(timeout=300)  # the warm-up: libraries, then the models the build named
        assert extract.STATS["loads"] == before["loads"] + 1  # the site's one model, loaded ahead of any edit
        ready = [r.getMessage() for r in caplog.records if "loaded in the background" in r.getMessage()]
        assert len(ready) == 1 and ready[0].startswith("attnviz: sentence-transformers/all-MiniLM-L6-v2 loaded")
        # a machine without previews: the warm-up exports one for the next server, and says so
        exported = [r.getMessage() for r in caplog.records if "exported for quick previews" in r.getMessage()]
        assert len(exported) == 1 and exported[0].startswith("attnviz: sentence-transformers/all-MiniLM-L6-v2 ")
        assert plugin.previews.has(plugin.builder.models_used()[0]) and not plugin.previews.active
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
import sys
from mkdocs.config import load_config
cfg = load_config(sys.argv[1])
assert "torch" not in sys.modules
cfg.plugins.on_startup(command=sys.argv[2], dirty=False)
warmup = cfg.plugins["attnviz"].warmup
if warmup is not None:
    assert warmup.imported.wait(timeout=300)
print(warmup is not None, "torch" in sys.modules, "transformers.modeling_utils" in sys.modules)
'''


@pytest.mark.parametrize("command, plugin, expected", [("serve", "", "True True True"),
                                                       ("build", "", "False False False"),
                                                       ("serve", "enabled: false", "False False False"),
                                                       ("serve", "cache_only: true", "False False False")])
def test_serve_imports_torch_and_transformers_from_its_start(site, command, plugin, expected):
    """`mkdocs serve` starts importing torch and transformers (with what every model class is built on) in the
    background as it starts, before the first build knows the models, so that an early edit waits little;
    `mkdocs build` does not, nor a site that never loads a model."""
    import subprocess
    import sys

    site.config(plugin=plugin)
    out = subprocess.run([sys.executable, "-c", SERVE_START, str(site.root / "mkdocs.yml"), command],
                         capture_output=True, text=True, timeout=600, cwd=site.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == expected


def test_the_warm_up_begins_before_the_first_build_and_loads_the_models_that_build_named(site, monkeypatch):
    """One thread, begun by on_startup: the libraries first (before the first build has even started), then, once
    the first build has named the site's models, those models — never before the libraries are in."""
    import threading

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site.page("index.md", PAGE)
    site.config()
    events: list[str] = []
    imported = threading.Event()
    release = threading.Event()

    def import_libraries():  # stands for torch and transformers: held until the first build is done
        events.append("import")
        imported.set()
        assert release.wait(timeout=300)

    monkeypatch.setattr(extract, "import_libraries", import_libraries)
    monkeypatch.setattr(ModelRefs, "preload",
                        lambda self, refs: events.append("preload " + ", ".join(ref.name for ref in refs)))
    cfg = load_config(str(site.root / "mkdocs.yml"))
    cfg.plugins.on_startup(command="serve", dirty=False)
    warmup = cfg.plugins["attnviz"].warmup
    try:
        assert imported.wait(timeout=60) and events == ["import"]  # before the first build started
        build(cfg, serve_url="http://127.0.0.1:8000/")
        assert events == ["import"] and warmup.thread.is_alive()  # the models wait for the libraries
        release.set()
        warmup.thread.join(timeout=300)
        assert events == ["import", "preload sentence-transformers/all-MiniLM-L6-v2"]
        build(cfg, serve_url="http://127.0.0.1:8000/")  # an edit: the models are asked for once
        assert not warmup.thread.is_alive() and len(events) == 2
    finally:
        release.set()
        cfg.plugins.on_shutdown()


RACE = '''
import sys, threading
from mkdocs_attnviz import extract
ref = extract.resolve_model("m", None, models={"m": sys.argv[1]})
errors = []


def preload():
    try:
        extract.preload(ref, "cpu", False)
    except Exception as exc:
        errors.append(repr(exc))


# mkdocs serve's warm-up imports the libraries and preloads the model while an edit needs it at once
threads = [threading.Thread(target=extract.import_libraries), threading.Thread(target=preload)]
for thread in threads:
    thread.start()
att = extract.extract(ref, "The cat sat on the mat.")
for thread in threads:
    thread.join()
print(errors, len(att.tokens), extract.STATS["loads"])
'''


def test_a_model_needed_while_the_warm_up_imports_the_libraries_is_loaded_once(minilm_path):
    """transformers replaces its module as its first import ends, and imports its classes lazily: a load beside the
    warm-up's import failed most times (``cannot import name 'AutoConfig'``: the warm-up's preload was lost, and the
    first edit loaded the model itself). Now the one import is waited for; the model loads once, without error."""
    import subprocess
    import sys

    for _ in range(3):  # the old failure came 3 times in 4
        out = subprocess.run([sys.executable, "-c", RACE, minilm_path], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[-2] == "[] 9 1", out.stdout


def test_with_previews_the_warm_up_readies_them_then_imports_torch_in_a_quiet_moment(site, monkeypatch):
    """On a machine with quick previews, the warm-up waits for the first build's models, readies their previews and
    what drawing imports, then imports torch and transformers only once no build has run for QUIET_SECONDS (an
    import holds the interpreter for seconds: an edit meanwhile would wait), loads the models, turns the previews
    off and last exports the previews the models lack."""
    import time

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from mkdocs_attnviz import machine
    from mkdocs_attnviz.modelrefs import Warmup

    site.page("index.md", PAGE)
    site.config()
    folder = machine.previews_dir() / "some-model"
    folder.mkdir(parents=True)
    (folder / "preview.json").write_text("{}", encoding="utf-8")  # this machine has a preview (of some model)
    events: list[tuple[str, float]] = []
    assert Warmup.QUIET_SECONDS == 2.0  # "once no build has run for two seconds" (docs/reference.md)
    monkeypatch.setattr(Warmup, "QUIET_SECONDS", 0.6)
    monkeypatch.setattr(extract, "import_libraries", lambda: events.append(("import", time.perf_counter())))
    monkeypatch.setattr("mkdocs_attnviz.extract.preview.Previews.load",
                        lambda self, refs: events.append(("previews", time.perf_counter())) or list(refs))
    for name in ("preload", "prepare_drawing"):
        monkeypatch.setattr(ModelRefs, name,
                            lambda self, *a, name=name: events.append((name, time.perf_counter())))
    monkeypatch.setattr(ModelRefs, "export_previews",
                        lambda self, refs, previews: events.append((f"export active={previews.active}",
                                                                    time.perf_counter())))
    cfg = load_config(str(site.root / "mkdocs.yml"))
    cfg.plugins.on_startup(command="serve", dirty=False)
    plugin = cfg.plugins["attnviz"]
    try:
        assert not plugin.warmup.early
        time.sleep(0.3)
        assert events == []  # nothing before a build has named the models
        build(cfg, serve_url="http://127.0.0.1:8000/")
        deadline = time.perf_counter() + 0.3
        while time.perf_counter() < deadline:  # a writer's edits, one after another: no quiet moment yet
            build(cfg, serve_url="http://127.0.0.1:8000/")
        last_build = time.perf_counter()
        plugin.warmup.thread.join(timeout=60)
        names = [name for name, _ in events]
        assert names == ["previews", "prepare_drawing", "import", "preload", "export active=False"], names
        assert dict(events)["import"] - last_build >= 0.6 - 0.05
    finally:
        plugin.on_shutdown()
