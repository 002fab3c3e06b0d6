"""A committed cache needs no model: the CI flow of docs/publishing.md.

Build locally (MiniLM mapped to a folder of the project under ``models:``, and a hub id from a Hugging Face cache),
copy the docs, the config and the cache to a new folder where neither exists, block torch and transformers, and
build there with ``cache_only`` and ``--strict``: every figure is found, byte for byte the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from test_hostile_support import make_fake_hub

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: run a command's ``main`` with torch and transformers impossible to import (as on a CI without them)
BLOCKED = textwrap.dedent('''
    import importlib.abc, sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers"):
                raise ImportError(f"{name} is not installed on this machine (blocked by the test)")
            return None

    sys.meta_path.insert(0, Blocked())
    sys.argv = sys.argv[1:]
    if sys.argv[0] == "mkdocs":
        from mkdocs.__main__ import cli
    else:
        from zensical.main import cli
    cli(sys.argv[1:])
''')


def run_blocked(*args: str, cwd: Path, hub: Path, ci: bool = True,
                extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``mkdocs ...`` or ``zensical ...`` at ``cwd`` without torch and transformers (``CI=true`` when ``ci``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub),
           "NO_MKDOCS_2_WARNING": "1", **(extra or {})}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-c", BLOCKED, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


PAGES = {
    "index.md": f'''
        # Home

        ```attnviz layer="last" head="mean"
        The cat sat on the mat because it was tired.
        ```

        ```attnviz model="acme/minilm" view="heads"
        A hub model, pinned to the commit of the local Hugging Face cache.
        ```
        ''',
    "guide/page.md": '''
        ---
        title: Guide
        ---
        # Guide

        !!! note
            ```attnviz layer="0" head="2" view="bars"
            The dog chased the ball.
            ```
        ''',
}

CONFIG = textwrap.dedent(f'''
    site_name: CI
    site_dir: site
    markdown_extensions:
      - admonition
    plugins:
      - attnviz:
          models:
            {MODEL}: .models/minilm
          defaults:
            model: {MODEL}
          cache_only: !ENV [CI, false]
''')


def write_project(root: Path) -> None:
    for name, text in PAGES.items():
        page = root / "docs" / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "mkdocs.yml").write_text(CONFIG, encoding="utf-8")


@pytest.fixture(scope="module")
def local_build(tmp_path_factory, minilm_path):
    """The author's machine: models present, cache filled by one ordinary build."""
    from huggingface_hub import constants

    base = tmp_path_factory.mktemp("committed")
    hub = make_fake_hub(base / "hub", minilm_path, base / "marker")
    local = base / "local"
    write_project(local)
    (local / ".models").mkdir()
    os.symlink(minilm_path, local / ".models" / "minilm")
    old = constants.HF_HUB_CACHE
    constants.HF_HUB_CACHE = str(hub)
    try:
        from test_hostile_support import mkdocs_build

        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("CI", raising=False)  # the author's machine, even when the tests run on CI
            mkdocs_build(local, strict=True)
    finally:
        constants.HF_HUB_CACHE = old
    figures = {p.name: p.read_bytes() for p in (local / "site/assets/attnviz").iterdir()}
    assert sum(name.endswith(".html") for name in figures) == 3
    return base, local, figures


def ci_copy(base: Path, local: Path, name: str) -> Path:
    """What CI checks out: docs, config and the committed cache; no .models, no site, no Hugging Face cache."""
    ci = base / name
    shutil.copytree(local / "docs", ci / "docs")
    shutil.copy(local / "mkdocs.yml", ci / "mkdocs.yml")
    shutil.copytree(local / ".cache", ci / ".cache")
    (base / f"{name}-hub").mkdir()
    return ci


def test_ci_build_without_models_or_torch_finds_every_figure(local_build):
    base, local, figures = local_build
    ci = ci_copy(base, local, "ci")
    assert not (ci / ".models").exists()
    proc = run_blocked("mkdocs", "build", "--strict", cwd=ci, hub=base / "ci-hub")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "attnviz: 3 figures (3 from cache, 0 rendered, 0 model runs, 0 errors)" in proc.stderr
    built = {p.name: p.read_bytes() for p in (ci / "site/assets/attnviz").iterdir()}
    assert built == figures  # byte-identical figure files, BokehJS and stylesheet


def test_ci_build_names_a_block_missing_from_the_cache(local_build):
    base, local, _ = local_build
    ci = ci_copy(base, local, "ci-new-block")
    (ci / "docs" / "new.md").write_text("# New\n\nText.\n\n```attnviz\nA sentence nobody built.\n```\n",
                                        encoding="utf-8")
    proc = run_blocked("mkdocs", "build", "--strict", cwd=ci, hub=base / "ci-new-block-hub")
    assert proc.returncode != 0
    assert "docs/new.md:5: option 'model': the attention of this block is not in the cache" in proc.stderr
    assert "attnviz warm" in proc.stderr and "cache_only off" in proc.stderr


def test_without_cache_only_a_missing_model_folder_stays_an_error(local_build):
    base, local, _ = local_build
    ci = ci_copy(base, local, "ci-no-cache-only")
    proc = run_blocked("mkdocs", "build", cwd=ci, hub=base / "ci-no-cache-only-hub", ci=False)
    assert "does not exist or is not a folder" in proc.stderr
    assert "docs/index.md:4:" in proc.stderr


def test_a_remapped_model_is_not_taken_for_the_old_one(local_build):
    """The cache remembers the folder a name was mapped to: mapping it elsewhere on CI is a clear miss."""
    base, local, _ = local_build
    ci = ci_copy(base, local, "ci-remapped")
    config = (ci / "mkdocs.yml").read_text(encoding="utf-8").replace(".models/minilm", ".models/other")
    (ci / "mkdocs.yml").write_text(config, encoding="utf-8")
    proc = run_blocked("mkdocs", "build", "--strict", cwd=ci, hub=base / "ci-remapped-hub")
    assert proc.returncode != 0
    assert "remembers no weights for it" in proc.stderr and "docs/index.md:4:" in proc.stderr


def test_zensical_ci_build_without_models_or_torch_finds_every_figure(tmp_path, minilm_path):
    """The same flow under Zensical: the cache next to zensical.toml is committed; CI runs the bootstrap workflow's
    `zensical build --clean` (with --strict), ATTNVIZ_CACHE_ONLY=true, no model folder, no torch."""
    pytest.importorskip("zensical")
    from zensical_support import FIGURES, Project, check_site, figures_of

    local = Project(tmp_path / "local", minilm_path)
    proc = local.build()
    assert proc.returncode == 0, proc.stderr
    ci = tmp_path / "ci"
    shutil.copytree(local.root / "docs", ci / "docs")
    shutil.copy(local.root / "zensical.toml", ci / "zensical.toml")
    shutil.copytree(local.root / ".attnviz-cache", ci / ".attnviz-cache")
    (tmp_path / "hub").mkdir()
    env = {"ATTNVIZ_CACHE_ONLY": "true"}
    proc = run_blocked("zensical", "build", "--clean", "--strict", cwd=ci, hub=tmp_path / "hub", extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    check_site(ci / "site")
    for name in FIGURES:  # the same figures, byte for byte
        built = figures_of((ci / "site" / name).read_text(encoding="utf-8"))
        assert built == figures_of((local.site / name).read_text(encoding="utf-8"))

    proc = run_blocked("zensical", "build", "--clean", cwd=ci, hub=tmp_path / "hub", extra={"ATTNVIZ_CACHE_ONLY": "0"})
    assert "does not exist or is not a folder" in proc.stderr  # cache_only off: a missing folder is an error


# -- the committed cache is not trusted (issue 17, item 2) ---------------------------------------------------------

#: what a pull request slips into a committed figure page; no byte of it may reach the site
INJECTED = '<script>window.pwned = "attnviz-cache-injection"</script>'


def tamper_render_entries(cache: Path) -> list[Path]:
    """Put :data:`INJECTED` into every rendered figure page of ``cache`` and write each page's new sha256 into its
    ``.json``, as an attacker who read the layout would (the MAC cannot be made without the author's key)."""
    import hashlib
    import json

    tampered = []
    for entry in sorted(cache.glob("render/*/*.json")):
        page = entry.with_suffix(".html")
        data = page.read_bytes().replace(b"<body", INJECTED.encode() + b"<body", 1)
        page.write_bytes(data)
        meta = json.loads(entry.read_text(encoding="utf-8"))
        meta["files"][".html"] = hashlib.sha256(data).hexdigest()
        entry.write_text(json.dumps(meta), encoding="utf-8")
        tampered.append(page)
    return tampered


def site_bytes(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


@pytest.mark.parametrize("machine", ["same", "other"])
def test_tampered_committed_render_entry_never_reaches_the_site(local_build, machine, tmp_path):
    """A committed cache whose figure pages were edited (hashes fixed): under cache_only and --strict, on the
    author's machine or CI's, every figure is rendered again from its extraction entry, identical to the clean one."""
    base, local, figures = local_build
    ci = ci_copy(base, local, f"ci-tampered-{machine}")
    assert len(tamper_render_entries(ci / ".cache/plugin/attnviz")) == 3
    extra = {"ATTNVIZ_STATE_DIR": str(tmp_path / "ci-machine")} if machine == "other" else None
    proc = run_blocked("mkdocs", "build", "--strict", cwd=ci, hub=base / f"ci-tampered-{machine}-hub", extra=extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "attnviz: 3 figures (0 from cache, 3 rendered, 0 model runs, 0 errors)" in proc.stderr
    built = site_bytes(ci / "site")
    assert not [name for name, data in built.items() if b"attnviz-cache-injection" in data]
    assert {p.name: p.read_bytes() for p in (ci / "site/assets/attnviz").iterdir()} == figures
    # the entries rendered again are this machine's now: the next build takes them from the cache
    proc = run_blocked("mkdocs", "build", "--strict", cwd=ci, hub=base / f"ci-tampered-{machine}-hub", extra=extra)
    assert "attnviz: 3 figures (3 from cache, 0 rendered, 0 model runs, 0 errors)" in proc.stderr


def test_zensical_tampered_committed_render_entry_never_reaches_the_site(tmp_path, minilm_path):
    pytest.importorskip("zensical")
    from zensical_support import FIGURES, Project, check_site, figures_of

    local = Project(tmp_path / "local", minilm_path)
    assert local.build().returncode == 0
    ci = tmp_path / "ci"
    shutil.copytree(local.root / "docs", ci / "docs")
    shutil.copy(local.root / "zensical.toml", ci / "zensical.toml")
    shutil.copytree(local.root / ".attnviz-cache", ci / ".attnviz-cache")
    assert tamper_render_entries(ci / ".attnviz-cache")
    (tmp_path / "hub").mkdir()
    env = {"ATTNVIZ_CACHE_ONLY": "true", "ATTNVIZ_STATE_DIR": str(tmp_path / "ci-machine")}
    proc = run_blocked("zensical", "build", "--clean", "--strict", cwd=ci, hub=tmp_path / "hub", extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [name for name, data in site_bytes(ci / "site").items() if b"attnviz-cache-injection" in data]
    check_site(ci / "site")
    for name in FIGURES:  # rendered again: the same figures as the clean build, byte for byte
        built = figures_of((ci / "site" / name).read_text(encoding="utf-8"))
        assert built == figures_of((local.site / name).read_text(encoding="utf-8"))
