"""Run a Hugging Face model on a sentence and return the attention of every layer and head.

Two steps:

* :func:`resolve_model` turns what the author wrote (``model="..."``, ``revision="..."``) into a
  :class:`ModelRef`: a hub id or a local folder, checked, with a *fingerprint* of the weights that
  the cache can key on. It never imports torch or transformers (a warm build that only reads the
  attention cache must stay fast).
* :func:`extract` loads the model (once per process), tokenizes, runs one forward pass with eager
  attention and returns an :class:`~mkdocs_attnviz.attention.Attention`.

torch and transformers are imported lazily, inside the functions that need them; importing this
module imports neither.

Every failure a site owner or author can cause (unknown model, no network, revision not found,
folder without ``config.json``, corrupted weights, remote code, a model that returns no attention)
is raised as :class:`~mkdocs_attnviz.errors.AttnvizError` with ``option="model"`` (or
``"revision"``, ``"max_tokens"``, ``"device"``), never as a bare traceback.

Token labels
------------
``tokens`` keeps the raw tokens (``"##ing"``, ``"Ġthe"``, ``"▁the"``). ``labels`` are for display:

* special tokens keep their token string (``[CLS]``, ``<s>``, ``</s>``...);
* other tokens, with a fast tokenizer, are labelled with the characters of the sentence they cover
  (character offsets; a token of the pair sentence maps into the pair text), whitespace stripped;
* byte-level BPE may split one character (CJK, emoji) into several tokens, or make a token of the
  end of one character and the start of the next: a token is labelled with the characters of its
  span that no earlier token of the same sentence has shown; a token that adds no new character is
  labelled ``"·"`` + its characters (e.g. ``今`` split into three tokens → ``今``, ``·今``, ``·今``);
* a token that covers only whitespace is labelled ``"␣"``;
* without offsets (slow tokenizer), labels are cleaned from the raw tokens: ``##`` dropped, ``Ġ`` and
  ``▁`` turned into spaces and stripped, byte-level pieces decoded with ``convert_tokens_to_string``
  (pieces of one character are grouped: first piece gets the character, the others ``·`` + it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .attention import CONTINUATION, SPACE_LABEL, Attention
from .errors import AttnvizError

__all__ = ["ModelRef", "resolve_model", "fingerprint_weights", "extract", "clear_models", "STATS"]

#: counters the tests (and the host's statistics) read: models loaded, forward passes run
STATS: dict[str, int] = {"loads": 0, "forwards": 0}


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

# model types whose learned positions start after the padding index (usable = max_position - pad - 1)
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                     "roberta-prelayernorm", "ibert", "mpnet", "luke", "mluke", "markuplm", "xmod", "esm"}
_SENTINEL_LIMIT = 1_000_000
# parameter names that, if missing from a checkpoint (so randomly initialised), make the attention meaningless
_VITAL_WEIGHTS = ("attn", "attention", "query", "key", "q_proj", "k_proj", "q_lin", "k_lin", "embed", "wte", "wpe",
                  "shared")  # tokenizers without a limit report int(1e30)

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_MODELS: dict[tuple, "_Loaded"] = {}
_LOCK = threading.RLock()


@dataclass(frozen=True)
class ModelRef:
    """A model resolved from a directive, ready to load."""

    name: str  # as written in the directive
    source: str  # what from_pretrained gets: a hub id or an absolute local folder
    revision: str | None
    fingerprint: str  # stable id of the weights (see resolve_model)
    local: bool


# --------------------------------------------------------------------------------------------------
# resolving (no torch, no transformers)
# --------------------------------------------------------------------------------------------------

def _looks_like_path(name: str, base_dir: str | None) -> bool:
    if name in (".", "..", "~") or name.startswith(("./", "../", "/", "~", ".\\", "..\\")) or "\\" in name:
        return True
    if os.path.isabs(name) or ".." in name.split("/"):  # "models/../../x": a path, checked as one
        return True
    base = base_dir or os.getcwd()
    return os.path.isdir(os.path.join(base, name))


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
    data = json.dumps(entries, indent=0)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == data:
                return
    except OSError:
        pass
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
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


def _cached_revisions(repo_id: str) -> set[str] | None:
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


def resolve_model(name: str, revision: str | None, *, models: Mapping[str, str] | None = None,
                  base_dir: str | None = None, allowed_root: str | None = None) -> ModelRef:
    """Turn the ``model``/``revision`` of a directive into a :class:`ModelRef`.

    * ``name`` in ``models`` (the site owner's mapping name → local folder, which may point anywhere;
      relative folders are taken from ``base_dir``): that folder.
    * ``name`` that looks like a path (starts with ``./``, ``../``, ``/`` or ``~``, or names an existing
      folder relative to ``base_dir``): resolved relative to ``base_dir``; after resolving symlinks it
      must stay inside ``allowed_root`` (default: ``base_dir``, else the current folder).
    * otherwise a hub id (``org/name`` or ``name``; letters, digits, ``.``, ``_``, ``-``).

    Local folders must hold a ``config.json``; ``revision`` is refused for them. Never imports
    torch or transformers.
    """
    name = (name or "").strip()
    if not name:
        raise AttnvizError("no model given", option="model")
    if revision is not None:
        revision = revision.strip() or None
    base = os.path.realpath(os.path.expanduser(base_dir)) if base_dir else os.getcwd()

    folder: str | None = None
    if models and name in models:
        target = os.path.expanduser(str(models[name]))
        folder = os.path.realpath(target if os.path.isabs(target) else os.path.join(base, target))
    elif _looks_like_path(name, base_dir):
        root = os.path.realpath(os.path.expanduser(allowed_root)) if allowed_root else base
        expanded = os.path.expanduser(name)
        folder = os.path.realpath(expanded if os.path.isabs(expanded) else os.path.join(base, expanded))
        if not _inside(folder, root):
            raise AttnvizError(f"model folder {name!r} resolves to {folder!r}, outside the project folder "
                               f"{root!r}: model paths must stay inside the project folder (to use a model "
                               "elsewhere, map a name to it under `models:` in the site config)", option="model")

    if folder is not None:
        if revision is not None:
            raise AttnvizError(f"revision {revision!r} cannot apply to {name!r}: it is a local folder "
                               "(revisions are for Hugging Face hub models)", option="revision")
        _check_folder(name, folder)
        return ModelRef(name=name, source=folder, revision=None, fingerprint=fingerprint_weights(folder), local=True)

    if not _HUB_ID_RE.match(name) or ".." in name or "--" in name:
        raise AttnvizError(f"{name!r} is not a valid Hugging Face model id (expected 'org/name' or 'name' with "
                           "letters, digits, '.', '_' and '-') nor a folder inside the project", option="model")
    if revision is not None and (not _REVISION_RE.match(revision) or ".." in revision
                                 or revision.startswith("/") or revision.endswith("/")):
        raise AttnvizError(f"not a valid revision: {revision!r} (expected a branch, tag or commit)",
                           option="revision")
    return ModelRef(name=name, source=name, revision=revision, fingerprint=_hub_fingerprint(name, revision),
                    local=False)


# --------------------------------------------------------------------------------------------------
# loading (torch + transformers, lazily)
# --------------------------------------------------------------------------------------------------

@dataclass
class _Loaded:
    tokenizer: Any
    model: Any
    config: Any
    device: str
    causal: bool
    encoder_decoder: bool
    limit: int | None
    fingerprint: str = ""


def clear_models() -> None:
    """Forget every loaded model (frees memory; the next :func:`extract` loads again)."""
    with _LOCK:
        _MODELS.clear()
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover
        pass


def _pick_device(device: str) -> str:
    import torch

    d = (device or "auto").strip().lower()
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cpu":
        return "cpu"
    if d == "cuda" or re.match(r"^cuda:\d+$", d):
        if not torch.cuda.is_available():
            raise AttnvizError(f"device {device!r} asked for but CUDA is not available (torch {torch.__version__}); "
                               "use device 'auto' or 'cpu'", option="device")
        return d
    if d == "map":  # big models: let accelerate place the layers over every GPU (and the CPU)
        import importlib.util

        if importlib.util.find_spec("accelerate") is None:
            raise AttnvizError("device 'map' spreads a big model over the available devices with "
                               "device_map=\"auto\" and needs the accelerate package: pip install accelerate",
                               option="device")
        return "map"
    if d == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise AttnvizError("device 'mps' asked for but it is not available", option="device")
        return d
    raise AttnvizError(f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda' or 'map'", option="device")


def _exc_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _load_error(ref: ModelRef, exc: BaseException, what: str) -> AttnvizError:
    """Map an exception of transformers / huggingface_hub / safetensors to a clear AttnvizError."""
    names = _exc_names(exc)
    msg = str(exc)
    low = msg.lower()
    first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
    if "trust_remote_code" in low or "custom code" in low:
        return AttnvizError(f"model {ref.name!r} needs custom code from its repository (trust_remote_code); "
                            "it is refused unless the site owner enables `trust_remote_code` in the plugin "
                            "config", option="model")
    if "RevisionNotFoundError" in names or "not a valid git identifier" in low or "invalid rev" in low:
        return AttnvizError(f"revision {ref.revision!r} of model {ref.name!r} was not found ({first})",
                            option="revision")
    if ref.local:
        if "SafetensorError" in names or "safetensors" in low or "deserializ" in low or "header" in low \
                or "unable to load weights" in low or "corrupt" in low or "pickle" in low:
            return AttnvizError(f"the weights of model {ref.name!r} in {ref.source!r} are unreadable "
                                f"(corrupted or truncated file?): {first}", option="model")
        return AttnvizError(f"could not load the {what} of model {ref.name!r} from {ref.source!r}: {first}",
                            option="model")
    if ref.revision is not None:
        cached = _cached_revisions(ref.source)
        if cached is not None and ref.revision not in cached:
            known = ", ".join(sorted(cached)) or "none"
            return AttnvizError(f"revision {ref.revision!r} of model {ref.name!r} was not found: the local Hugging "
                                f"Face cache holds this model only at {known}, and it could not be downloaded "
                                f"(no network or offline mode). Check the branch, tag or commit, or fill the cache "
                                f"(`huggingface-cli download {ref.name} --revision {ref.revision}`). "
                                f"[{type(exc).__name__}: {first}]", option="revision")
    hub_missing = names & {"RepositoryNotFoundError", "LocalEntryNotFoundError", "OfflineModeIsEnabled",
                           "EntryNotFoundError", "GatedRepoError", "HfHubHTTPError"}
    if hub_missing or isinstance(exc, OSError) or "connect" in low or "offline" in low:
        if "GatedRepoError" in names:
            reason = "it is a gated repository (accept its licence and log in, then fill the cache)"
        else:
            reason = "it is not in the local Hugging Face cache and could not be downloaded " \
                     "(no network, offline mode, or no such repository)"
        rev = f" (revision {ref.revision!r})" if ref.revision else ""
        return AttnvizError(f"model {ref.name!r}{rev} is not available: {reason}. Make it available by mapping "
                            f"the name to a local folder under `models:` in the site config (e.g. "
                            f"models: {{{ref.name}: path/to/folder}}), by filling the Hugging Face cache "
                            f"(`huggingface-cli download {ref.name}`), or build from a filled attention cache "
                            f"with cache_only. [{type(exc).__name__}: {first}]", option="model")
    return AttnvizError(f"could not load the {what} of model {ref.name!r}: {type(exc).__name__}: {first}",
                        option="model")


def _check_remote_code(ref: ModelRef, trust_remote_code: bool) -> None:
    if trust_remote_code or not ref.local:
        return
    try:
        with open(os.path.join(ref.source, "config.json"), encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError) as exc:
        raise AttnvizError(f"config.json of model {ref.name!r} in {ref.source!r} is unreadable: {exc}",
                           option="model") from None
    if not isinstance(config, dict):
        raise AttnvizError(f"config.json of model {ref.name!r} in {ref.source!r} is not a JSON object",
                           option="model")
    if config.get("auto_map"):
        raise AttnvizError(f"model {ref.name!r} needs custom code from its folder (auto_map in config.json); "
                           "it is refused unless the site owner enables `trust_remote_code` in the plugin config",
                           option="model")


def _model_limit(tokenizer: Any, config: Any) -> int | None:
    limits = []
    tl = getattr(tokenizer, "model_max_length", None)
    if isinstance(tl, int) and 0 < tl < _SENTINEL_LIMIT:
        limits.append(tl)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        cl = getattr(config, attr, None)
        if isinstance(cl, int) and 0 < cl < _SENTINEL_LIMIT:
            if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
                cl -= (getattr(config, "pad_token_id", None) or 1) + 1
            limits.append(cl)
            break
    return min(limits) if limits else None


def _is_causal(config: Any) -> bool:
    if getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    try:
        from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                            MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    except ImportError:  # pragma: no cover
        return False
    mt = getattr(config, "model_type", None)
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _from_pretrained(cls: Any, ref: ModelRef, trust_remote_code: bool, **kw: Any) -> Any:
    kw = dict(kw)
    if ref.revision is not None:
        kw["revision"] = ref.revision
    return cls.from_pretrained(ref.source, trust_remote_code=trust_remote_code, **kw)


def _load(ref: ModelRef, device: str, trust_remote_code: bool) -> _Loaded:
    key = (ref.source, ref.revision, device, bool(trust_remote_code))
    with _LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None and loaded.fingerprint == ref.fingerprint:
            return loaded
        _check_remote_code(ref, trust_remote_code)
        import torch
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        try:
            config = _from_pretrained(AutoConfig, ref, trust_remote_code)
        except AttnvizError:
            raise
        except Exception as exc:
            raise _load_error(ref, exc, "configuration") from None
        if not trust_remote_code and getattr(config, "auto_map", None):
            # transformers silently falls back to its built-in class when the model type is known; the
            # repository's own code would compute something else, so refuse like a local folder
            raise AttnvizError(f"model {ref.name!r} needs custom code from its repository (auto_map in "
                               "config.json); it is refused unless the site owner enables `trust_remote_code` "
                               "in the plugin config", option="model")
        try:
            tokenizer = _from_pretrained(AutoTokenizer, ref, trust_remote_code)
        except Exception as exc:
            raise _load_error(ref, exc, "tokenizer") from None
        if isinstance(tokenizer, bool) or not callable(tokenizer):
            raise AttnvizError(f"model {ref.name!r} has no usable tokenizer", option="model")

        major = int(transformers.__version__.split(".")[0])
        dtype_kw = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
        kw = dict(config=config, attn_implementation="eager", output_loading_info=True, **dtype_kw)
        if device == "map":
            kw["device_map"] = "auto"
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bars in the middle of a site build
        try:
            try:
                if getattr(config, "is_encoder_decoder", False):  # with its LM head: greedy generation
                    from transformers import AutoModelForSeq2SeqLM

                    try:
                        model, info = _from_pretrained(AutoModelForSeq2SeqLM, ref, trust_remote_code, **kw)
                    except ValueError:
                        model, info = _from_pretrained(AutoModel, ref, trust_remote_code, **kw)
                else:
                    model, info = _from_pretrained(AutoModel, ref, trust_remote_code, **kw)
            except ValueError as exc:
                if "Unrecognized configuration class" not in str(exc):
                    raise
                from transformers import AutoModelForCausalLM

                model, info = _from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, **kw)
        except Exception as exc:
            raise _load_error(ref, exc, "weights") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        missing = sorted(k for k in (info or {}).get("missing_keys", ()) if not k.startswith("pooler."))
        vital = [k for k in missing if any(p in k.lower() for p in _VITAL_WEIGHTS)]
        if vital:
            raise AttnvizError(f"the checkpoint of model {ref.name!r} lacks {len(vital)} weights the attention "
                               f"depends on (e.g. {', '.join(vital[:3])}): the weights do not match the "
                               f"architecture in config.json", option="model")
        try:
            if device != "map":  # with a device map, accelerate has placed the weights already
                model = model.to(device=device, dtype=torch.float32)
        except Exception as exc:
            raise AttnvizError(f"could not move model {ref.name!r} to {device}: {exc}", option="model") from None
        model.eval()
        encdec = bool(getattr(config, "is_encoder_decoder", False))
        loaded = _Loaded(tokenizer=tokenizer, model=model, config=config, device=device,
                         causal=_is_causal(config), encoder_decoder=encdec, limit=_model_limit(tokenizer, config),
                         fingerprint=ref.fingerprint)
        # drop an older copy of the same model (e.g. the weights in the folder changed)
        for other in [k for k, v in _MODELS.items() if k[0] == ref.source and v.fingerprint != ref.fingerprint]:
            del _MODELS[other]
        _MODELS[key] = loaded
        STATS["loads"] += 1
        return loaded


# --------------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------------

def _clean_piece(token: str) -> str:
    t = token[2:] if token.startswith("##") else token
    return t.replace("Ġ", " ").replace("▁", " ").replace("Ċ", " ").strip()


def _labels_from_offsets(tokens: list[str], special: list[bool], seq_ids: list[int | None],
                         offsets: list[tuple[int, int]], texts: list[str]) -> list[str]:
    labels: list[str] = []
    shown = {0: 0, 1: 0}  # per sentence: characters already shown by earlier tokens
    for i, tok in enumerate(tokens):
        sid = seq_ids[i]
        if special[i] or sid is None:
            labels.append(tok)
            continue
        src = texts[sid] if sid < len(texts) else ""
        s, e = offsets[i]
        s, e = max(0, s), min(len(src), e)
        if e <= s:  # no characters (e.g. a lone 'Ġ'/'▁' after trimming): clean the raw token
            labels.append(_clean_piece(tok) or SPACE_LABEL)
            continue
        start_new = max(s, shown.get(sid, 0))
        new = src[start_new:e].strip() if start_new < e else ""
        if new:
            labels.append(new)
        else:
            span = src[s:e].strip()
            labels.append(CONTINUATION + span if span else SPACE_LABEL)
        shown[sid] = max(shown.get(sid, 0), e)
    return labels


def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's ``bytes_to_unicode`` (byte-level BPE shows byte b as one printable character)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _byte_level_offsets(tokens: list[str], special: list[bool]) -> tuple[str, list[tuple[int, int]]] | None:
    """For byte-level BPE pieces: the decoded text and each token's character span in it (else None)."""
    dec = _byte_decoder()
    pieces = [t for t, sp in zip(tokens, special) if not sp]
    if not pieces or any(t.startswith("##") or any(c not in dec for c in t) for t in pieces):
        return None
    if not any(ord(c) >= 0x100 for t in pieces for c in t):  # no 'Ġ' or mapped byte: plain text pieces
        return None
    buf = bytearray()
    spans: list[tuple[int, int] | None] = []
    for t, sp in zip(tokens, special):
        if sp:
            spans.append(None)
            continue
        b = bytes(dec[c] for c in t)
        spans.append((len(buf), len(buf) + len(b)))
        buf += b
    chars: list[str] = []
    char_of_byte: list[int] = []
    i = 0
    while i < len(buf):
        lead = buf[i]
        if lead >> 5 == 0b110:
            length = 2
        elif lead >> 4 == 0b1110:
            length = 3
        elif lead >> 3 == 0b11110:
            length = 4
        else:
            length = 1
        try:
            ch = bytes(buf[i:i + length]).decode("utf-8")
        except UnicodeDecodeError:
            ch, length = "\ufffd", 1
        char_of_byte.extend([len(chars)] * length)
        chars.append(ch)
        i += length
    offsets = [(0, 0) if sp is None or sp[1] <= sp[0] else (char_of_byte[sp[0]], char_of_byte[sp[1] - 1] + 1)
               for sp in spans]
    return "".join(chars), offsets


def _labels_from_tokens(tokenizer: Any, tokens: list[str], special: list[bool]) -> list[str]:
    """Labels without offsets (slow tokenizers): byte-level pieces decoded, '##', 'Ġ', '▁' cleaned."""
    byte_level = _byte_level_offsets(tokens, special)
    if byte_level is not None:
        text, offsets = byte_level
        return _labels_from_offsets(tokens, special, [None if sp else 0 for sp in special], offsets, [text])
    labels: list[str] = []
    for tok, sp in zip(tokens, special):
        if sp:
            labels.append(tok)
            continue
        label = _clean_piece(tok)
        if not label and tok.strip() and "▁" not in tok and "Ġ" not in tok:
            try:
                label = tokenizer.convert_tokens_to_string([tok]).strip()
            except Exception:
                label = tok.strip()
        labels.append(label or SPACE_LABEL)
    return labels


def _segments(seq_ids: list[int | None]) -> list[int]:
    """0/1 per token; a special token belongs to the sentence of the token before it (leading: 0)."""
    out: list[int] = []
    current = 0
    for sid in seq_ids:
        if sid is not None:
            current = 1 if sid else 0
        out.append(current)
    return out


# --------------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------------

def _accepts(model: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return True


def extract(ref: ModelRef, text: str, pair: str | None = None, *, max_tokens: int | None = None,
            device: str = "auto", trust_remote_code: bool = False, target: str | None = None,
            max_new_tokens: int = 20, qk: bool = False, generate: int | None = None) -> Attention:
    """Run ``ref`` on ``text`` (and ``pair``) and return all layers × heads of attention.

    The model and tokenizer are loaded once per process (see :func:`clear_models`); eager attention,
    float32, no gradients. Encoder-decoder models give their encoder self-attention as ``weights`` and,
    in ``arrays``, the decoder self-attention and the cross attention (target × source) of one
    teacher-forced pass over ``target`` or, without it, over the model's greedy output
    (``max_new_tokens``); the decoder tokens are in ``meta["decoder"]``. ``qk=True`` also captures the
    query and key vectors of every layer with forward hooks (``arrays["query"]``/``["key"]``,
    ``meta["qk_scale"]``) for the neuron view.
    The input is truncated to ``max_tokens`` and always to the model's own limit; a truncation is
    recorded in ``meta["truncated"] = {"from": n_before, "to": n}``.

    ``meta["word_ids"]`` gives each token's word (``None`` for special tokens; the fast tokenizer's
    ``word_ids()``, words of a pair numbered after the first sentence's; without a fast tokenizer, guessed
    from the pieces). ``generate=N`` (causal language models) first generates N tokens greedily from the
    sentence, then runs one teacher-forced pass over prompt + generated tokens; the generated tokens are
    segment 1 and ``meta["generated"] = {"prompt": n_prompt, "new": N_made, "text": ...}``.
    """
    import numpy as np
    import torch
    import transformers

    if not isinstance(text, str) or not text.strip():
        raise AttnvizError("the sentence is empty", option="text")
    if pair is not None and not pair.strip():
        pair = None
    dev = _pick_device(device)
    loaded = _load(ref, dev, trust_remote_code)
    tok, model, config = loaded.tokenizer, loaded.model, loaded.config

    limit = loaded.limit
    if max_tokens is not None:
        if int(max_tokens) < 1:
            raise AttnvizError(f"must be at least 1, got {max_tokens}", option="max_tokens")
        limit = min(int(max_tokens), limit) if limit else int(max_tokens)

    is_fast = bool(getattr(tok, "is_fast", False))
    args = (text,) if pair is None else (text, pair)
    try:
        full = tok(*args, truncation=False, verbose=False)
        original = len(full["input_ids"])
        kw: dict[str, Any] = {"return_special_tokens_mask": True, "verbose": False}
        if is_fast:
            kw["return_offsets_mapping"] = True
        if limit is not None and original > limit:
            kw.update(truncation=True, max_length=limit)
        else:
            kw["truncation"] = False
        enc = tok(*args, **kw)
    except AttnvizError:
        raise
    except Exception as exc:
        option = "max_tokens" if max_tokens is not None else "text"
        raise AttnvizError(f"the tokenizer of {ref.name!r} could not encode the sentence within "
                           f"{limit} tokens: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
                           option=option) from None
    ids: list[int] = list(enc["input_ids"])
    n = len(ids)
    if n == 0:
        raise AttnvizError(f"the tokenizer of {ref.name!r} turned the sentence into no tokens", option="text")

    tokens = [str(t) for t in tok.convert_ids_to_tokens(ids)]
    special = [bool(x) for x in enc.get("special_tokens_mask", [0] * n)]
    seq_ids: list[int | None] | None = None
    if is_fast:
        try:
            seq_ids = list(enc.sequence_ids(0))
        except Exception:
            seq_ids = None
    if seq_ids is not None:
        seq_ids = [None if special[i] else seq_ids[i] for i in range(n)]
        if pair is None:
            seq_ids = [None if s is None else 0 for s in seq_ids]
    word_ids = _word_ids(enc, is_fast, tokens, special, seq_ids)
    if seq_ids is not None and "offset_mapping" in enc:
        labels = _labels_from_offsets(tokens, special, seq_ids, [tuple(o) for o in enc["offset_mapping"]],
                                      [text] if pair is None else [text, pair])
        segments = _segments(seq_ids)
    else:
        labels = _labels_from_tokens(tok, tokens, special)
        tti = enc.get("token_type_ids")
        segments = [1 if t else 0 for t in tti] if (pair is not None and tti and any(tti)) else [0] * n
        if pair is not None and not any(segments):
            # no token types: the first sentence (with its specials) is as long as it alone encodes
            try:
                n_a = len(tok(text)["input_ids"])
                n_sp_end = len(tok.build_inputs_with_special_tokens([0])) - 1
                n_a = max(0, n_a - n_sp_end + 1)
                segments = [0 if i < n_a else 1 for i in range(n)]
            except Exception:
                pass

    device_t = model.device if dev == "map" else torch.device(dev)  # a device map: inputs go where it starts
    generated = None
    if generate:
        ids, tokens, special, labels, segments, word_ids, generated = _generate(
            ref, loaded, dev, trust_remote_code, ids, tokens, special, labels, segments, word_ids, int(generate),
            limit, device_t)
        n = len(ids)
    inputs: dict[str, Any] = {"input_ids": torch.tensor([ids], dtype=torch.long, device=device_t),
                              "attention_mask": torch.ones((1, n), dtype=torch.long, device=device_t)}
    tti = enc.get("token_type_ids")
    runner = model.get_encoder() if loaded.encoder_decoder else model
    if tti is not None and _accepts(runner, "token_type_ids") \
            and max(tti) < int(getattr(config, "type_vocab_size", 0) or 0):
        inputs["token_type_ids"] = torch.tensor([list(tti)], dtype=torch.long, device=device_t)
    def forward():
        with torch.inference_mode():
            if loaded.encoder_decoder:
                return runner(**inputs, output_attentions=True, return_dict=True)
            if _accepts(model, "use_cache"):
                inputs["use_cache"] = False
            return model(**inputs, output_attentions=True, return_dict=True)

    vectors = None
    try:
        if qk:
            out, vectors, scales = _capture_qk(runner, config, forward, int(config.num_attention_heads))
        else:
            out = forward()
        STATS["forwards"] += 1
    except AttnvizError:
        raise
    except Exception as exc:
        raise AttnvizError(f"model {ref.name!r} failed on this sentence ({n} tokens): {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", option="model") from None

    attentions = getattr(out, "encoder_attentions", None) if loaded.encoder_decoder else None
    if not attentions:
        attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        arch = str(getattr(config, "model_type", "") or type(model).__name__)
        raise AttnvizError(f"model {ref.name!r} (architecture {arch!r}) has no attention to extract: it returned "
                           "no attention weights (an architecture without attention layers, such as a state-space "
                           "or RNN model, or one that does not support eager attention)", option="model")
    expected_layers = getattr(config, "num_hidden_layers", None)
    if isinstance(expected_layers, int) and expected_layers > 0 and len(attentions) != expected_layers:
        raise AttnvizError(f"model {ref.name!r} returned attention for {len(attentions)} layers but its config "
                           f"has {expected_layers}", option="model")
    heads = None
    for li, a in enumerate(attentions):
        shape = tuple(a.shape)
        if len(shape) != 4 or shape[0] != 1 or shape[2:] != (n, n) or (heads is not None and shape[1] != heads):
            raise AttnvizError(f"model {ref.name!r} returned attention of shape {shape} in layer {li}; expected "
                               f"(1, heads, {n}, {n})", option="model")
        heads = shape[1]
    weights = torch.stack([a[0] for a in attentions]).to(dtype=torch.float32, device="cpu").numpy()
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    if not np.isfinite(weights).all():
        raise AttnvizError(f"model {ref.name!r} returned attention weights that are not finite (NaN/inf)",
                           option="model")
    sums = weights.sum(axis=-1)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise AttnvizError(f"model {ref.name!r} returned attention rows that do not sum to 1 (off by "
                           f"{float(np.abs(sums - 1.0).max()):.3g}): not softmax attention weights?", option="model")
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    causal = loaded.causal
    if causal and n > 1 and np.abs(weights[..., upper]).max() > 1e-6:
        raise AttnvizError(f"model {ref.name!r} is a decoder but its attention looks at later tokens "
                           "(upper triangle not zero)", option="model")
    if not causal and not loaded.encoder_decoder and n > 2 and np.abs(weights[..., upper]).max() <= 1e-6:
        causal = True  # an architecture not known to be causal that masks the future anyway

    meta: dict[str, Any] = {
        "model_type": str(getattr(config, "model_type", "") or ""),
        "num_layers": int(weights.shape[0]),
        "num_heads": int(weights.shape[1]),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "is_encoder_decoder": loaded.encoder_decoder,
    }
    if loaded.encoder_decoder:
        meta["attention"] = "encoder"
    if n < original:
        meta["truncated"] = {"from": int(original), "to": int(n)}
    meta["word_ids"] = word_ids
    if generated is not None:
        meta["generated"] = generated
        # stated on every figure of this record (the description, the pages' titles)
        meta["analysis"] = {"notes": [f"{generated['new']} tokens generated greedily after the prompt (after the "
                                      "dashed line)"]}
    arrays: dict[str, Any] = {}
    if vectors is not None:
        query, key = vectors
        again = recompute_attention(query, key, scales, causal)
        if again.shape != weights.shape or np.abs(again - weights).max() > 1e-3:
            raise AttnvizError(f"model {ref.name!r}: softmax(q·k) from the captured vectors does not give its "
                               "attention (relative or rotary positions?): the neuron view cannot show it",
                               option="view")
        arrays.update(query=query, key=key)
        meta["qk_scale"] = [float(s) for s in scales]
    if loaded.encoder_decoder and (target is not None or model.get_output_embeddings() is not None):
        dec, cross, info = _decoder_attention(ref, loaded, inputs, n, target, max_new_tokens)
        arrays.update(decoder=dec, cross=cross)
        meta["decoder"] = info
    return Attention(weights=weights, tokens=tokens, labels=labels, special=special, segments=segments,
                     model=ref.name, revision=ref.fingerprint, causal=causal, meta=meta, arrays=arrays)


def _word_ids(enc: Any, is_fast: bool, tokens: list[str], special: list[bool],
              seq_ids: list[int | None] | None) -> list[int | None]:
    """Each token's word (None for specials): the fast tokenizer's ``word_ids()``; the words of the pair
    sentence are numbered after those of the first; without a fast tokenizer, guessed from the pieces."""
    n = len(tokens)
    raw = None
    if is_fast:
        try:
            raw = list(enc.word_ids(0))
        except Exception:
            raw = None
    if raw is None or len(raw) != n:
        return _word_ids_from_tokens(tokens, special)
    out: list[int | None] = []
    first_max = max((w for i, w in enumerate(raw) if w is not None and (seq_ids or [0] * n)[i] in (0, None)),
                    default=-1)
    for i, w in enumerate(raw):
        if special[i] or w is None:
            out.append(None)
        elif seq_ids is not None and seq_ids[i] == 1:
            out.append(int(w) + first_max + 1)
        else:
            out.append(int(w))
    return out


def _word_ids_from_tokens(tokens: list[str], special: list[bool], start: int = 0,
                          previous: int | None = None) -> list[int | None]:
    """Word ids guessed from the pieces (slow tokenizers, generated tokens): ``##x`` continues a word, ``Ġx`` /
    ``▁x`` starts one; in byte-level/SentencePiece text a piece without a space marker continues the word
    before it unless it is punctuation."""
    wordpiece = any(t.startswith("##") for t in tokens)
    out: list[int | None] = []
    current = previous
    nxt = start
    for tok, sp in zip(tokens, special):
        if sp:
            out.append(None)
            current = None
            continue
        body = tok.lstrip("Ġ▁Ċ ")
        if wordpiece:
            starts = not tok.startswith("##")
        else:  # a space marker, punctuation, or the piece after punctuation starts a word
            before = tokens[len(out) - 1].lstrip("Ġ▁Ċ ") if out else ""
            starts = tok != body or not _wordish(body) or not _wordish(before)
        if starts or current is None:
            current = nxt
            nxt += 1
        out.append(current)
    return out


def _wordish(piece: str) -> bool:
    """A piece holding a letter or digit (or a byte-level piece of a non-ASCII character)."""
    return any(c.isalnum() or ord(c) >= 0x80 for c in piece)


def _generate(ref: ModelRef, loaded: "_Loaded", dev: str, trust_remote_code: bool, ids: list[int], tokens: list[str],
              special: list[bool], labels: list[str], segments: list[int], word_ids: list[int | None], count: int,
              limit: int | None, device_t: Any) -> tuple:
    """Greedy generation of ``count`` tokens after the prompt (no sampling, one beam: deterministic)."""
    import torch

    if loaded.encoder_decoder:
        raise AttnvizError(f"model {ref.name!r} is an encoder-decoder model: its decoder generates with "
                           "max_new_tokens= (or takes target=); generate= is for causal language models",
                           option="generate")
    if not loaded.causal:
        raise AttnvizError(f"model {ref.name!r} is not a causal language model (it sees the whole sentence at "
                           "once), so it cannot continue the text: generate= needs a decoder such as GPT-2",
                           option="generate")
    if limit is not None and len(ids) + count > limit:
        raise AttnvizError(f"the prompt has {len(ids)} tokens and the model's limit is {limit}: at most "
                           f"{max(0, limit - len(ids))} tokens can be generated, not {count}", option="generate")
    lm = _load_causal_lm(ref, loaded, dev, trust_remote_code)
    tok = loaded.tokenizer
    eos = getattr(loaded.config, "eos_token_id", None)
    pad = getattr(tok, "pad_token_id", None)
    pad = pad if pad is not None else (eos if isinstance(eos, int) else 0)
    try:
        with torch.inference_mode():
            out = lm.generate(input_ids=torch.tensor([ids], dtype=torch.long, device=device_t),
                              attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device_t),
                              max_new_tokens=count, min_new_tokens=1, do_sample=False, num_beams=1,
                              pad_token_id=pad)
    except Exception as exc:
        raise AttnvizError(f"greedy generation with model {ref.name!r} failed: {type(exc).__name__}: {exc}",
                           option="generate") from None
    new = [int(x) for x in out[0].tolist()[len(ids):]]
    if not new:
        raise AttnvizError(f"model {ref.name!r} generated no token", option="generate")
    new_tokens = [str(t) for t in tok.convert_ids_to_tokens(new)]
    specials = set(getattr(tok, "all_special_ids", []) or [])
    new_special = [i in specials for i in new]
    new_labels = _labels_from_tokens(tok, new_tokens, new_special)
    last_word = next((w for w in reversed(word_ids) if w is not None), None)
    start = (max((w for w in word_ids if w is not None), default=-1)) + 1
    new_words = _word_ids_from_tokens(new_tokens, new_special, start=start,
                                      previous=last_word if word_ids and word_ids[-1] is not None else None)
    try:
        text = tok.decode(new, skip_special_tokens=False)
    except Exception:
        text = "".join(new_labels)
    info = {"prompt": len(ids), "new": len(new), "text": text, "asked": count}
    return (ids + new, tokens + new_tokens, special + new_special, labels + new_labels,
            [0] * len(ids) + [1] * len(new), word_ids + new_words, info)


def _load_causal_lm(ref: ModelRef, loaded: "_Loaded", dev: str, trust_remote_code: bool) -> Any:
    """The model with its language-model head (for generate=), loaded once per process beside the base model."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    key = (ref.source, ref.revision, dev, bool(trust_remote_code), "causal-lm")
    with _LOCK:
        got = _MODELS.get(key)
        if got is not None and got.fingerprint == ref.fingerprint:
            return got.model
        major = int(transformers.__version__.split(".")[0])
        dtype_kw = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
        kw = dict(config=loaded.config, attn_implementation="eager", **dtype_kw)
        if dev == "map":
            kw["device_map"] = "auto"
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            lm = _from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, **kw)
        except Exception as exc:
            raise AttnvizError(f"model {ref.name!r} has no language-model head to generate with "
                               f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                               option="generate") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if dev != "map":
            lm = lm.to(device=dev, dtype=torch.float32)
        lm.eval()
        _MODELS[key] = _Loaded(tokenizer=loaded.tokenizer, model=lm, config=loaded.config, device=dev,
                               causal=True, encoder_decoder=False, limit=loaded.limit, fingerprint=ref.fingerprint)
        return lm


# --------------------------------------------------------------------------------------------------
# query / key vectors (neuron view): forward hooks on stock transformers modules
# --------------------------------------------------------------------------------------------------

def _qk_sites(model: Any, config: Any) -> list[tuple[str, Any, float]]:
    """``[(style, attention module, scale)]`` per self-attention layer, in order, for the q/k hooks.

    Styles: ``"qk"`` (BERT, RoBERTa, ELECTRA...: ``query``/``key`` linear layers), ``"c_attn"`` (GPT-2:
    one projection split into q, k, v), ``"lin"`` (DistilBERT: ``q_lin``/``k_lin``). Models whose scores
    are not ``scale · q·k`` (relative or rotary positions) are refused.
    """
    if str(getattr(config, "position_embedding_type", "absolute") or "absolute") not in ("absolute",):
        raise AttnvizError("the neuron view needs plain q·k attention; this model adds relative position "
                           "scores", option="view")
    sites: list[tuple[str, Any, float]] = []
    for _name, mod in model.named_modules():
        if hasattr(mod, "query") and hasattr(mod, "key") and hasattr(mod, "num_attention_heads"):
            d = int(getattr(mod, "attention_head_size", 0) or mod.query.out_features // mod.num_attention_heads)
            sites.append(("qk", mod, float(getattr(mod, "scaling", d ** -0.5))))
        elif hasattr(mod, "c_attn") and hasattr(mod, "split_size") and not getattr(mod, "is_cross_attention", False):
            d = int(mod.head_dim)
            scale = d ** -0.5 if getattr(mod, "scale_attn_weights", True) else 1.0
            if getattr(mod, "scale_attn_by_inverse_layer_idx", False):
                scale /= float((getattr(mod, "layer_idx", None) or 0) + 1)
            sites.append(("c_attn", mod, scale))
        elif hasattr(mod, "q_lin") and hasattr(mod, "k_lin") and hasattr(mod, "n_heads"):
            d = mod.q_lin.out_features // mod.n_heads
            sites.append(("lin", mod, d ** -0.5))
    if not sites:
        raise AttnvizError(f"the neuron view supports BERT-, RoBERTa-, DistilBERT- and GPT-2-style models, not "
                           f"{getattr(config, 'model_type', type(model).__name__)!r}", option="view")
    return sites


def _capture_qk(model: Any, config: Any, run: Any, num_heads: int) -> tuple[Any, Any, list[float]]:
    """Run ``run()`` with hooks on every layer's q/k projections; return q, k as (layers, heads, n, d)."""
    import numpy as np

    sites = _qk_sites(model, config)
    captured: list[dict[str, Any]] = [{} for _ in sites]
    handles = []

    def keep(i: int, what: str):
        def hook(_module, _inputs, output):
            captured[i][what] = output.detach().to("cpu", dtype=__import__("torch").float32)
        return hook

    try:
        for i, (style, mod, _scale) in enumerate(sites):
            if style == "qk":
                handles += [mod.query.register_forward_hook(keep(i, "q")), mod.key.register_forward_hook(keep(i, "k"))]
            elif style == "lin":
                handles += [mod.q_lin.register_forward_hook(keep(i, "q")), mod.k_lin.register_forward_hook(keep(i, "k"))]
            else:
                handles.append(mod.c_attn.register_forward_hook(keep(i, "qkv")))
        result = run()
    finally:
        for h in handles:
            h.remove()
    qs, ks = [], []
    for (style, mod, _scale), got in zip(sites, captured):
        if style == "c_attn":
            q, k, _v = got["qkv"].split(mod.split_size, dim=2)
        else:
            q, k = got["q"], got["k"]
        n = q.shape[1]
        qs.append(q[0].reshape(n, num_heads, -1).permute(1, 0, 2).numpy())
        ks.append(k[0].reshape(n, num_heads, -1).permute(1, 0, 2).numpy())
    return result, (np.stack(qs).astype(np.float32), np.stack(ks).astype(np.float32)), [s[2] for s in sites]


def recompute_attention(query: Any, key: Any, scales: list[float], causal: bool) -> Any:
    """softmax(scale · q·kᵀ) per layer and head (future masked when ``causal``): the check of the neuron view."""
    import numpy as np

    scores = np.einsum("lhqd,lhkd->lhqk", query.astype(np.float64), key.astype(np.float64))
    scores *= np.asarray(scales, dtype=np.float64)[:, None, None, None]
    if causal:
        n = scores.shape[-1]
        scores = np.where(np.triu(np.ones((n, n), dtype=bool), k=1), -np.inf, scores)
    scores -= scores.max(-1, keepdims=True)
    e = np.exp(scores)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# encoder-decoder: decoder and cross attention (target text, or greedy generation + teacher forcing)
# --------------------------------------------------------------------------------------------------

def _decoder_attention(ref: ModelRef, loaded: "_Loaded", inputs: dict[str, Any], n_src: int,
                       target: str | None, max_new_tokens: int) -> tuple[Any, Any, dict[str, Any]]:
    """Decoder self-attention (layers, heads, T, T) and cross attention (layers, heads, T, n_src)."""
    import numpy as np
    import torch

    tok, model, config = loaded.tokenizer, loaded.model, loaded.config
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    if start is None:
        raise AttnvizError(f"model {ref.name!r} has no decoder_start_token_id: cannot run its decoder",
                           option="target")
    limit = getattr(config, "max_position_embeddings", None) or 512
    enc_inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    if target is not None:
        try:
            ids = list(tok(text_target=target)["input_ids"])
        except Exception:
            ids = list(tok(target)["input_ids"])
        dec_ids = [int(start)] + ids
        how = "target"
    else:
        if not hasattr(model, "generate") or model.get_output_embeddings() is None:
            raise AttnvizError(f"model {ref.name!r} has no language-model head to generate with: give the decoder "
                               "text with target=\"...\"", option="target")
        try:
            with torch.inference_mode():
                out = model.generate(**enc_inputs, max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
                                     decoder_start_token_id=int(start))
        except Exception as exc:
            raise AttnvizError(f"greedy generation with model {ref.name!r} failed: {type(exc).__name__}: {exc}",
                               option="max_new_tokens") from None
        dec_ids = [int(x) for x in out[0].tolist()]
        pad = getattr(config, "pad_token_id", None)
        while len(dec_ids) > 1 and pad is not None and dec_ids[-1] == pad and pad != start:
            dec_ids.pop()
        how = "generated"
    dec_ids = dec_ids[:int(limit)]
    device_t = inputs["input_ids"].device
    try:
        with torch.inference_mode():
            out = model(**enc_inputs, decoder_input_ids=torch.tensor([dec_ids], dtype=torch.long, device=device_t),
                        output_attentions=True, return_dict=True, use_cache=False)
        STATS["forwards"] += 1
    except Exception as exc:
        raise AttnvizError(f"model {ref.name!r} failed on the decoder input: {type(exc).__name__}: {exc}",
                           option="target") from None
    T = len(dec_ids)
    dec = getattr(out, "decoder_attentions", None)
    cross = getattr(out, "cross_attentions", None)
    if not dec or not cross or any(a is None for a in (*dec, *cross)):
        raise AttnvizError(f"model {ref.name!r} returned no decoder or cross attention", option="attention")
    d = torch.stack([a[0] for a in dec]).to(dtype=torch.float32, device="cpu").numpy()
    c = torch.stack([a[0] for a in cross]).to(dtype=torch.float32, device="cpu").numpy()
    if d.shape[2:] != (T, T) or c.shape[2:] != (T, n_src):
        raise AttnvizError(f"model {ref.name!r} returned decoder/cross attention of shapes {d.shape}/{c.shape}; "
                           f"expected (layers, heads, {T}, {T}) and (layers, heads, {T}, {n_src})", option="attention")
    for name, w in (("decoder", d), ("cross", c)):
        if not np.isfinite(w).all() or np.abs(w.sum(-1) - 1.0).max() > 1e-3:
            raise AttnvizError(f"model {ref.name!r} returned {name} attention rows that do not sum to 1",
                               option="attention")
    if T > 1 and np.abs(d[..., np.triu(np.ones((T, T), dtype=bool), k=1)]).max() > 1e-6:
        raise AttnvizError(f"model {ref.name!r}: its decoder attention looks at later tokens", option="attention")
    tokens = [str(t) for t in tok.convert_ids_to_tokens(dec_ids)]
    specials = set(getattr(tok, "all_special_ids", []) or [])
    special = [i in specials for i in dec_ids]
    labels = _labels_from_tokens(tok, tokens, special)
    info = {"tokens": tokens, "labels": labels, "special": special, "ids": dec_ids, "how": how}
    return np.ascontiguousarray(d), np.ascontiguousarray(c), info
