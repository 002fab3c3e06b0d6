"""Shared helpers of the hostile-input and fault suites (test_hostile*.py, test_faults*.py).

Holds no tests: ``from test_hostile_support import ...``. Holds the catalogue of bad blocks (each one a
case of docs/reliability.md), an HTML inspector, the fake Hugging Face cache and the odd models
(no attention, corrupted weights, remote code) the suites load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "The cat sat on the mat."

SCRIPT = "</script><script>window.__pwned=1</script>"
IMG = '"><img src=x onerror="window.__pwned=1">'
JINJA = "{{ 7*7 }} {% for x in range(3) %}X{% endfor %} {{ ''.__class__ }}"
BACKTICKS = "`whoami` ``x``"
PAYLOADS = {"script": SCRIPT, "img": IMG, "jinja": JINJA, "backticks": BACKTICKS}


@dataclass(frozen=True)
class Bad:
    """One bad block: its header, its body and the words its message must hold."""

    case: str
    header: str
    body: str
    words: str


#: every directive error: each yields one warning ``page:line: option 'x': ...`` and an error box
DIRECTIVE_ERRORS = [
    Bad("unknown-option", 'colour="red"', SENTENCE, "option 'colour': unknown option (known options: "),
    Bad("option-without-value", 'layer head="0"', SENTENCE, "option 'layer': option has no value"),
    Bad("option-with-empty-value", 'layer=', SENTENCE, "option 'layer': option has an empty value"),
    Bad("duplicate-option", 'layer="1" layer="2"', SENTENCE, "option 'layer': option given twice"),
    Bad("unterminated-quote", 'caption="never closed', SENTENCE, "option 'caption': unterminated quote (\")"),
    Bad("stray-quote", 'caption=a"b', SENTENCE, "option 'caption': stray quote in an unquoted value"),
    Bad("not-an-option", '<script>alert(1)</script>', SENTENCE, "cannot read the options at '<script>alert(1)"),
    Bad("layer-out-of-range", 'layer="99"', SENTENCE,
        "option 'layer': layer 99 is out of range: the model has 6 layers (0 to 5, or -1 to -6)"),
    Bad("layer-negative-out-of-range", 'layer="-7"', SENTENCE, "option 'layer': layer -7 is out of range"),
    Bad("layer-not-a-number", 'layer="two"', SENTENCE,
        "option 'layer': expected a layer number, 'last' or 'all', got 'two'"),
    Bad("layer-empty", 'layer=""', SENTENCE, "option 'layer': expected a layer number"),
    Bad("head-out-of-range", 'head="12"', SENTENCE,
        "option 'head': head 12 is out of range: the model has 12 heads (0 to 11)"),
    Bad("head-negative", 'head="-1"', SENTENCE, "option 'head': head numbers start at 0, got -1"),
    Bad("head-not-a-number", 'head="first"', SENTENCE,
        "option 'head': expected a head number, 'mean', 'max' or 'all', got 'first'"),
    Bad("height-not-a-number", 'height="tall"', SENTENCE, "option 'height': expected a whole number, got 'tall'"),
    Bad("height-out-of-range", 'height="50"', SENTENCE, "option 'height': must be at least 100, got 50"),
    Bad("max-tokens-too-small", 'max_tokens="1"', SENTENCE, "option 'max_tokens': must be at least 2, got 1"),
    Bad("bad-choice", 'special_tokens="maybe"', SENTENCE, "option 'special_tokens': expected one of show, hide"),
    Bad("empty-model", 'model=""', SENTENCE, "option 'model': no model given"),
    Bad("empty-sentence", "", "", "option 'text': the block has no sentence"),
    Bad("whitespace-sentence", "", "   \t   \n   ", "option 'text': the block has no sentence"),
    Bad("control-character", "", "The cat\x07 sat.", "option 'text': contains control character U+0007"),
    Bad("control-character-in-pair", 'pair="a\x1bb"', SENTENCE, "option 'pair': contains control character U+001B"),
    Bad("whitespace-pair", 'pair="   "', SENTENCE, "option 'pair': is empty"),
    Bad("id-injection", f"id='{IMG}'", SENTENCE, "option 'id': must start with a letter"),
    Bad("id-with-space", 'id="my figure"', SENTENCE, "option 'id': must start with a letter"),
]

#: model and path errors (need the fixtures of :func:`model_errors`): (case, header, words)
MODEL_ERRORS = [
    ("unknown-id", 'model="not a model!"', "option 'model': 'not a model!' is not a valid Hugging Face model id"),
    ("hub-id-offline", 'model="nobody/no-such-model"',
     "option 'model': model 'nobody/no-such-model' is not available"),
    ("revision-not-found", 'model="acme/minilm" revision="v9.9"',
     "option 'revision': revision 'v9.9' of model 'acme/minilm' was not found"),
    ("revision-on-folder", 'model="./models/tiny" revision="main"',
     "option 'revision': revision 'main' cannot apply to './models/tiny'"),
    ("remote-code-hub", 'model="acme/remote-code"',
     "option 'model': model 'acme/remote-code' needs custom code from its repository"),
    ("remote-code-hub-unknown-type", 'model="acme/remote-arch"',
     "option 'model': model 'acme/remote-arch' needs custom code from its repository"),
    ("remote-code-folder", 'model="./models/remote"',
     "option 'model': model './models/remote' needs custom code from its folder"),
    ("no-attention", 'model="mamba"', "option 'model': model 'mamba' (architecture 'mamba') has no attention to extract"),
    ("weights-truncated", 'model="truncated"', "option 'model': the weights of model 'truncated'"),
    ("weights-garbage", 'model="garbage"', "option 'model': the weights of model 'garbage'"),
    ("folder-not-a-model", 'model="./models/empty"', "has no config.json: it is not a Hugging Face model folder"),
    ("path-dotdot", 'model="../outside-model"', "outside the project folder"),
    ("path-absolute", 'model="{outside}"', "outside the project folder"),
    ("path-home", 'model="~/outside-model"', "outside the project folder"),
    ("path-symlink-out", 'model="./models/link-out"', "outside the project folder"),
    ("path-symlink-dotdot", 'model="models/../../outside-model"', "outside the project folder"),
]


# -- HTML inspection --------------------------------------------------------------------------------

@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Parsed:
    elements: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def all(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]

    def event_handlers(self) -> list[tuple[str, str]]:
        return [(e.tag, k) for e in self.elements for k in e.attrs if k.lower().startswith("on")]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parsed = Parsed()
        self._open: Element | None = None

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.parsed.elements.append(el)
        if tag in ("script", "style", "title", "figcaption", "code"):
            self._open = el

    def handle_endtag(self, tag):
        if self._open is not None and self._open.tag == tag:
            self._open = None

    def handle_data(self, data):
        self.parsed.texts.append(data)
        if self._open is not None:
            self._open.text += data


def parse_html(html: str) -> Parsed:
    c = _Collector()
    c.feed(html)
    c.close()
    return c.parsed


def figure_data(page_html: str) -> dict:
    m = re.search(r'<script type="application/json" id="attnviz-data">(.*?)</script>', page_html, re.S)
    assert m, "no attnviz-data in the figure page"
    return json.loads(m.group(1))


def iframe_srcs(html: str) -> list[str]:
    return re.findall(r'<iframe class="attnviz-frame" src="([^"]+)"', html)


def png_text_chunks(png: bytes) -> list[bytes]:
    """The payloads of the tEXt/iTXt/zTXt chunks of a PNG."""
    import struct

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, i = [], 8
    while i < len(png):
        (length,) = struct.unpack(">I", png[i:i + 4])
        kind = png[i + 4:i + 8]
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            out.append(png[i + 8:i + 8 + length])
        i += 12 + length
    return out


def tree_snapshot(folder: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of everything under ``folder``: to prove a folder was not written to."""
    return sorted((p.relative_to(folder).as_posix(), p.lstat().st_size, p.lstat().st_mtime_ns)
                  for p in folder.rglob("*"))


_BUILD_DATE = re.compile(rb"Build Date UTC : [^\n]*")


def tree_bytes(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` (a built site), with MkDocs' "Build Date UTC" comment blanked."""
    return {p.relative_to(folder).as_posix(): _BUILD_DATE.sub(b"Build Date UTC : -", p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(skip)}


# -- sites ----------------------------------------------------------------------------------------

def write_site(root: Path, models: dict[str, str], pages: dict[str, str], plugin: str = "", top: str = "") -> Path:
    """A MkDocs project: ``pages`` under docs/, a mkdocs.yml with the attnviz plugin, ``models`` as its
    ``models:`` map, MiniLM as the default model, and ``plugin`` (YAML) added to the plugin's config."""
    docs = root / "docs"
    for name, text in pages.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    mapping = "\n".join(f"        {json.dumps(k)}: {json.dumps(v)}" for k, v in models.items())
    extra = textwrap.indent(textwrap.dedent(plugin).strip("\n"), "      ") if plugin else ""
    (root / "mkdocs.yml").write_text(
        f"site_name: Hostile\nsite_dir: site\n{top}plugins:\n  - attnviz:\n      models:\n{mapping}\n"
        f"      defaults:\n        model: {json.dumps(MODEL)}\n{extra}\n", encoding="utf-8")
    return root


def mkdocs_build(root: Path, *, strict: bool = False):
    """Build the site at ``root`` in this process, like `mkdocs build` (also behind conftest's Site.build)."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    cfg = load_config(str(root / "mkdocs.yml"), strict=strict)
    cfg.plugins.on_startup(command="build", dirty=False)
    try:
        build(cfg)
    finally:
        cfg.plugins.on_shutdown()
    return cfg


# -- odd models -------------------------------------------------------------------------------------

_SMALL = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
COMMIT = "c0ffee" + "0" * 34


def _hub_repo(hub: Path, repo_id: str, files: dict[str, Path | str]) -> None:
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    for name, src in files.items():
        if isinstance(src, Path):
            os.symlink(src, snap / name)
        else:
            (snap / name).write_text(src, encoding="utf-8")


def make_fake_hub(hub: Path, minilm_path: str, marker: Path) -> Path:
    """A Hugging Face cache (offline) with ``acme/minilm`` (MiniLM at one commit, ``main``),
    ``acme/remote-code`` (MiniLM whose config asks for custom code, known model type) and
    ``acme/remote-arch`` (custom code, unknown model type). The custom code writes ``marker``."""
    src = Path(minilm_path)
    files = {name: src / name for name in _SMALL + ["model.safetensors"]}
    _hub_repo(hub, "acme/minilm", files)
    evil = f"open({str(marker)!r}, 'w').write('remote code ran')\n"
    config = json.loads((src / "config.json").read_text())
    remote = dict(config, auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    _hub_repo(hub, "acme/remote-code", {**files, "config.json": json.dumps(remote), "evil.py": evil})
    arch = dict(remote, model_type="evilnet")
    _hub_repo(hub, "acme/remote-arch", {**files, "config.json": json.dumps(arch), "evil.py": evil})
    return hub


def make_remote_folder(folder: Path, tiny: str, marker: Path) -> Path:
    """A local model folder whose config.json asks for custom code (``evil.py`` writes ``marker``)."""
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('remote code ran')\n")
    return folder


def make_mamba(folder: Path) -> Path:
    """A tiny Mamba (a state-space model: no attention at all) with a byte-level BPE tokenizer."""
    from models import make_tiny_gpt2
    from transformers import MambaConfig, MambaModel
    import torch

    make_tiny_gpt2(folder)
    (folder / "config.json").unlink()
    (folder / "model.safetensors").unlink()
    torch.manual_seed(0)
    MambaModel(MambaConfig(vocab_size=400, hidden_size=16, state_size=4, num_hidden_layers=2, expand=2,
                           conv_kernel=2)).save_pretrained(folder)
    return folder


def make_corrupted(folder: Path, tiny: str, how: str) -> Path:
    """A copy of a tiny model folder with its weights truncated to half or replaced by garbage."""
    shutil.copytree(tiny, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00not safetensors\xff" * 64)
    return folder
