"""Resolving what a directive names into a :class:`ModelRef`, and the weight fingerprints the cache keys on.

:func:`resolve_model` turns what the author wrote (``model="..."``, ``revision="..."``) into a
:class:`ModelRef`: a hub id or a local folder, checked (a path must stay inside the project folder;
a revision only applies to a hub id), with a *fingerprint* of the weights that the cache can key on
(:func:`fingerprint_weights` for a folder, the cached snapshot's commit for a hub id).

This module also owns the per-process memo of file hashes and its copy on disk
(:func:`load_hash_memo` / :func:`save_hash_memo`), and reads the local Hugging Face cache
(:func:`cached_revisions`). It never imports torch or transformers (a warm build that only reads
the attention cache must stay fast).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import AttnvizError
from ..files import write_if_changed

__all__ = ["ModelRef", "resolve_model", "model_folder", "fingerprint_weights", "fingerprint_gguf", "is_gguf",
           "load_hash_memo", "save_hash_memo", "cached_revisions"]


_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_HUB_ID_RE = re.compile(rf"^(?:{_HUB_PART}/)?{_HUB_PART}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

#: files of a model folder hashed by content (small): config and tokenizer files
_SMALL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
                "spiece.model", "sentencepiece.bpe.model", "tokenizer.model", "preprocessor_config.json")
#: weight files (hashed by content once per (path, size, mtime_ns) per process)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack")
_WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")

_HASH_CACHE: dict[tuple[str, int, int], str] = {}

#: the first four bytes of every GGUF file (llama.cpp's format; Ollama keeps them as ``sha256-<hex>`` blobs)
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelRef:
    """A model resolved from a directive, ready to load."""

    name: str  # as written in the directive
    source: str  # what from_pretrained gets: a hub id or an absolute local folder
    revision: str | None
    fingerprint: str  # stable id of the weights (see resolve_model)
    local: bool
    pinned: bool = True  # False: a hub id whose snapshot is not cached here (the fingerprint is only "id@revision")
    gguf: bool = False  # True: ``source`` is one GGUF file (weights, config and tokenizer in it)


def _looks_like_path(name: str, base_dir: str | None) -> bool:
    if name in (".", "..", "~") or name.startswith(("./", "../", "/", "~", ".\\", "..\\")) or "\\" in name:
        return True
    if os.path.isabs(name) or ".." in name.split("/"):  # "models/../../x": a path, checked as one
        return True
    base = base_dir or os.getcwd()
    path = os.path.join(base, name)
    return os.path.isdir(path) or (name.lower().endswith(".gguf") and os.path.isfile(path))


def is_gguf(path: str) -> bool:
    """Whether ``path`` is a GGUF file: a file named ``*.gguf`` or one that starts with the magic bytes ``GGUF``
    (Ollama's blobs have no extension)."""
    if not os.path.isfile(path):
        return False
    if path.lower().endswith(".gguf"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def _check_folder(name: str, folder: str) -> None:
    if not os.path.isdir(folder):
        raise AttnvizError(f"model folder {folder!r} (for {name!r}) does not exist or is not a folder", option="model")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise AttnvizError(f"model folder {folder!r} (for {name!r}) has no config.json: it is not a Hugging Face "
                           "model folder (save the model and its tokenizer there with save_pretrained)",
                           option="model")


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _content_hash(path: str) -> tuple[int, str]:
    """sha256 of a (large) file, computed once per process for each (path, size, mtime_ns)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        digest = _hash_file(path)
        _HASH_CACHE[key] = digest
    return st.st_size, digest


def load_hash_memo(path: str | os.PathLike | None) -> None:
    """Add the file hashes remembered in ``path`` (JSON, written by :func:`save_hash_memo`) to this process.

    Entries are keyed by (real path, size, mtime_ns) like the in-process memo, so a changed file is hashed
    again. A warm build then never reads the (large) weight files at all. A missing or broken file is ignored.
    """
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as fh:
            entries = json.load(fh)
        for item in entries:
            real, size, mtime, digest = item
            _HASH_CACHE.setdefault((str(real), int(size), int(mtime)), str(digest))
    except (OSError, ValueError, TypeError):
        pass


def save_hash_memo(path: str | os.PathLike | None) -> None:
    """Write the hashes of files that still exist unchanged to ``path`` (atomically; errors ignored)."""
    if not path:
        return
    entries = []
    for (real, size, mtime), digest in sorted(_HASH_CACHE.items()):
        try:
            st = os.stat(real)
        except OSError:
            continue
        if st.st_size == size and st.st_mtime_ns == mtime:
            entries.append([real, size, mtime, digest])
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_if_changed(Path(path), json.dumps(entries, indent=0).encode("utf-8"))
    except OSError:
        pass


def fingerprint_weights(folder: str) -> str:
    """A stable id of the model in ``folder``: sha256 over its config, tokenizer and weight files.

    Config and tokenizer files are hashed by name and content; weight files (``*.safetensors``,
    ``*.bin``, ... at the top of the folder, plus their index files) by name, size and the sha256 of
    their content. The content hash of a weight file is computed once per process and kept, keyed by
    (real path, size, mtime_ns), so a warm rebuild only stats the files. The mtime is *not* part of
    the fingerprint: a fresh checkout of the same weights gives the same fingerprint.
    Returns ``"sha256:<hex>"``.
    """
    folder = os.path.realpath(folder)
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise AttnvizError(f"cannot read model folder {folder!r}: {exc.strerror or exc}", option="model") from None
    h = hashlib.sha256(b"mkdocs-attnviz weights v1\n")
    try:
        for fname in names:
            path = os.path.join(folder, fname)
            if not os.path.isfile(path):
                continue
            if fname in _SMALL_FILES or fname in _WEIGHT_INDEXES:
                # hashed once per process too (a warm build asks for the fingerprint once per block)
                h.update(f"file {fname} {_content_hash(path)[1]}\n".encode())
            elif fname.endswith(_WEIGHT_SUFFIXES) and not fname.startswith("training_args"):
                size, digest = _content_hash(path)
                h.update(f"weights {fname} {size} {digest}\n".encode())
    except OSError as exc:
        raise AttnvizError(f"cannot read model folder {folder!r}: {exc.strerror or exc}", option="model") from None
    return "sha256:" + h.hexdigest()


def fingerprint_gguf(path: str) -> str:
    """A stable id of one GGUF file: its size and the sha256 of its whole content (weights, config and tokenizer
    are all in it). Hashed once per (real path, size, mtime_ns) per process and remembered on disk with the other
    weight files (:func:`save_hash_memo`), so a warm build only stats it. Returns ``"sha256:<hex>"``."""
    try:
        size, digest = _content_hash(path)
    except OSError as exc:
        raise AttnvizError(f"cannot read GGUF file {path!r}: {exc.strerror or exc}", option="model") from None
    return "sha256:" + hashlib.sha256(f"mkdocs-attnviz gguf v1\n{size} {digest}\n".encode()).hexdigest()


def _hub_cache_dir() -> str:
    try:
        from huggingface_hub import constants  # light: does not import torch

        return constants.HF_HUB_CACHE
    except Exception:  # pragma: no cover - huggingface_hub is a dependency of transformers
        if os.environ.get("HF_HUB_CACHE"):
            return os.environ["HF_HUB_CACHE"]
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
        return os.path.join(home, "hub")


def _hub_fingerprint(repo_id: str, revision: str | None) -> str:
    """The commit of the locally cached snapshot for ``revision``, else ``id@revision``."""
    fallback = f"{repo_id}@{revision or 'main'}"
    try:
        repo_dir = os.path.join(_hub_cache_dir(), "models--" + repo_id.replace("/", "--"))
        if revision and _COMMIT_RE.match(revision):
            if os.path.isdir(os.path.join(repo_dir, "snapshots", revision)):
                return revision
            return fallback
        ref_file = os.path.join(repo_dir, "refs", revision or "main")
        if os.path.isfile(ref_file):
            with open(ref_file, encoding="utf-8") as fh:
                commit = fh.read().strip()
            if _COMMIT_RE.match(commit) and os.path.isdir(os.path.join(repo_dir, "snapshots", commit)):
                return commit
    except OSError:
        pass
    return fallback


def cached_revisions(repo_id: str) -> set[str] | None:
    """Branches/tags and commits of ``repo_id`` in the local Hugging Face cache (``None``: not cached)."""
    repo_dir = os.path.join(_hub_cache_dir(), "models--" + repo_id.replace("/", "--"))
    if not os.path.isdir(repo_dir):
        return None
    found: set[str] = set()
    try:
        refs = os.path.join(repo_dir, "refs")
        for dirpath, _dirs, files in os.walk(refs):
            found.update(os.path.relpath(os.path.join(dirpath, f), refs).replace(os.sep, "/") for f in files)
        snapshots = os.path.join(repo_dir, "snapshots")
        if os.path.isdir(snapshots):
            found.update(os.listdir(snapshots))
    except OSError:
        return None
    return found


def model_folder(name: str, *, models: Mapping[str, str] | None = None, base_dir: str | None = None,
                 allowed_root: str | None = None) -> str | None:
    """The local folder or GGUF file ``name`` stands for (absolute, symlinks resolved; it may not exist), or
    ``None`` for a hub id. See :func:`resolve_model`; a path outside ``allowed_root`` is refused here."""
    name = (name or "").strip()
    base = os.path.realpath(os.path.expanduser(base_dir)) if base_dir else os.getcwd()
    if models and name in models:
        target = os.path.expanduser(str(models[name]))
        return os.path.realpath(target if os.path.isabs(target) else os.path.join(base, target))
    if not name or not _looks_like_path(name, base_dir):
        return None
    root = os.path.realpath(os.path.expanduser(allowed_root)) if allowed_root else base
    expanded = os.path.expanduser(name)
    folder = os.path.realpath(expanded if os.path.isabs(expanded) else os.path.join(base, expanded))
    if not _inside(folder, root):
        raise AttnvizError(f"model folder {name!r} points outside the project folder: model paths must stay "
                           "inside the project folder (to use a model "
                           "elsewhere, map a name to it under `models:` in the site config)", option="model")
    return folder


def resolve_model(name: str, revision: str | None, *, models: Mapping[str, str] | None = None,
                  base_dir: str | None = None, allowed_root: str | None = None) -> ModelRef:
    """Turn the ``model``/``revision`` of a directive into a :class:`ModelRef`.

    * ``name`` in ``models`` (the site owner's mapping name → local folder or GGUF file, which may point
      anywhere; relative paths are taken from ``base_dir``): that folder or file.
    * ``name`` that looks like a path (starts with ``./``, ``../``, ``/`` or ``~``, or names an existing
      folder relative to ``base_dir``): resolved relative to ``base_dir``; after resolving symlinks it
      must stay inside ``allowed_root`` (default: ``base_dir``, else the current folder).
    * otherwise a hub id (``org/name`` or ``name``; letters, digits, ``.``, ``_``, ``-``).

    Local folders must hold a ``config.json``; a local file must be a GGUF file (``*.gguf`` or the magic bytes
    ``GGUF``: config, tokenizer and weights come from it); ``revision`` is refused for both. Never imports
    torch or transformers.
    """
    name = (name or "").strip()
    if not name:
        raise AttnvizError("no model given", option="model")
    if revision is not None:
        revision = revision.strip() or None
    folder = model_folder(name, models=models, base_dir=base_dir, allowed_root=allowed_root)

    if folder is not None:
        if revision is not None:
            raise AttnvizError(f"revision {revision!r} cannot apply to {name!r}: it is a local folder "
                               "(revisions are for Hugging Face hub models)", option="revision")
        if os.path.isfile(folder):
            if not is_gguf(folder):
                raise AttnvizError(f"model path {folder!r} (for {name!r}) is a file but not a GGUF file (it does "
                                   "not start with the bytes 'GGUF'): a model is a Hugging Face model folder or a "
                                   "GGUF file", option="model")
            return ModelRef(name=name, source=folder, revision=None, fingerprint=fingerprint_gguf(folder),
                            local=True, gguf=True)
        _check_folder(name, folder)
        return ModelRef(name=name, source=folder, revision=None, fingerprint=fingerprint_weights(folder), local=True)

    if not _HUB_ID_RE.match(name) or ".." in name or "--" in name:
        raise AttnvizError(f"{name!r} is not a valid Hugging Face model id (expected 'org/name' or 'name' with "
                           "letters, digits, '.', '_' and '-') nor a folder inside the project", option="model")
    if revision is not None and (not _REVISION_RE.match(revision) or ".." in revision
                                 or revision.startswith("/") or revision.endswith("/")):
        raise AttnvizError(f"not a valid revision: {revision!r} (expected a branch, tag or commit)",
                           option="revision")
    fingerprint = _hub_fingerprint(name, revision)
    return ModelRef(name=name, source=name, revision=revision, fingerprint=fingerprint, local=False,
                    pinned=bool(_COMMIT_RE.match(fingerprint)))
