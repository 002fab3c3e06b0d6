"""GGUF files (llama.cpp's format, kept by Ollama, LM Studio and llama.cpp) as models: the path transformers reads,
the architecture a file holds, and the refusal of one transformers cannot dequantise.

transformers reads a GGUF file with ``from_pretrained(folder, gguf_file=path)`` (config, tokenizer and weights,
dequantised to float32) but recognises it by its ``.gguf`` extension: an Ollama blob (``sha256-<hex>``, no
extension) is read through a link named ``<blob>.gguf`` in a folder of this process (:func:`readable_path`).
torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from typing import Any

from ..errors import AttnvizError
from .resolve import ModelRef

__all__ = ["readable_path", "architecture", "unsupported", "kwargs"]

_LINKS: dict[str, str] = {}
_DIR: list[str] = []


def _links_dir() -> str:
    if not _DIR:
        _DIR.append(tempfile.mkdtemp(prefix="attnviz-gguf-"))
        atexit.register(shutil.rmtree, _DIR[0], True)
    return _DIR[0]


def readable_path(ref: ModelRef) -> str:
    """A path of the GGUF file of ``ref`` that ends in ``.gguf`` (the file itself, or a link to it)."""
    path = ref.source
    if path.lower().endswith(".gguf"):
        return path
    link = _LINKS.get(path)
    if link is None or not os.path.exists(link):
        link = os.path.join(_links_dir(), f"{len(_LINKS)}-{os.path.basename(path)}.gguf")
        try:
            os.symlink(path, link)
        except OSError:  # no symlinks (Windows without the privilege): a hard link, else a copy
            try:
                os.link(path, link)
            except OSError:
                shutil.copyfile(path, link)
        _LINKS[path] = link
    return link


def architecture(path: str) -> str:
    """The ``general.architecture`` a GGUF file declares ("" when it cannot be read)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(path).fields.get("general.architecture")
        if field is None:
            return ""
        return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a name for a message only
        return ""


def unsupported(ref: ModelRef, exc: BaseException) -> AttnvizError | None:
    """The refusal of a GGUF file whose architecture transformers cannot read, or ``None`` for another failure."""
    msg = str(exc)
    if isinstance(exc, ImportError) and "gguf" in msg.lower():
        return AttnvizError(f"model {ref.name!r} is a GGUF file ({ref.source}); reading it needs the gguf package: "
                            "pip install 'mkdocs-attnviz[extract]' (or pip install gguf)", option="model")
    found = re.search(r"GGUF model with architecture (\S+) is not supported", msg)
    if not found:
        return None
    arch = architecture(ref.source) or found.group(1)
    known = _supported()
    which = f" (it reads {', '.join(known)})" if known else ""
    return AttnvizError(f"model {ref.name!r}: the GGUF file {ref.source} holds a {arch!r} model, an architecture "
                        f"the installed transformers cannot dequantise{which}; convert the model to a Hugging Face "
                        "folder or pick a GGUF file of another architecture", option="model")


def _supported() -> list[str]:
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:  # pragma: no cover - another transformers
        return []
    return sorted(str(a) for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))


def kwargs(ref: ModelRef) -> dict[str, Any]:
    """The ``from_pretrained`` arguments that read ``ref``'s GGUF file: its folder and ``gguf_file``."""
    path = readable_path(ref)
    return {"pretrained_model_name_or_path": os.path.dirname(path), "gguf_file": path}
