"""Loading a model once per process: device choice, config, tokenizer and weights, and their checks.

:func:`load_model` loads the config, the tokenizer and the model (eager attention, float32) of a
:class:`~mkdocs_attnviz.extract.resolve.ModelRef` once per process and keeps them (a :class:`Loaded`)
until the weights change or :func:`clear_models` is called; :func:`kept_model` is that keeping, for
other loaders too (the language-model head of ``generate=``). Also here: the device choice
(:func:`pick_device`), the refusal of custom code unless ``trust_remote_code``
(:func:`check_remote_code`), the model's token limit and whether it is causal.

Every failure of transformers / huggingface_hub / safetensors while loading (unknown model, no
network, revision not found, corrupted weights, remote code...) is mapped to a clear
:class:`~mkdocs_attnviz.errors.AttnvizError` with ``option="model"`` (or ``"revision"``,
``"device"``), never a bare traceback. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import AttnvizError
from ..logs import logger
from . import gguf
from .progress import quiet_progress
from .resolve import ModelRef, cached_revisions
from .stats import STATS

__all__ = ["Loaded", "load_model", "preload", "import_libraries", "kept_model", "clear_models", "pick_device", "check_remote_code",
           "from_pretrained", "eager_float32_kwargs"]


# model types whose learned positions start after the padding index (usable = max_position - pad - 1)
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                     "roberta-prelayernorm", "ibert", "mpnet", "luke", "mluke", "markuplm", "xmod", "esm"}
_SENTINEL_LIMIT = 1_000_000  # tokenizers without a limit report int(1e30)
# parameter names that, if missing from a checkpoint (so randomly initialised), make the attention meaningless
_VITAL_WEIGHTS = ("attn", "attention", "query", "key", "q_proj", "k_proj", "q_lin", "k_lin", "embed", "wte", "wpe",
                  "shared")


@dataclass
class Loaded:
    """A tokenizer and model loaded for one (source, revision, device, trust_remote_code), with what
    the extraction needs to know of them."""

    tokenizer: Any
    model: Any
    config: Any
    device: str
    causal: bool
    encoder_decoder: bool
    limit: int | None
    fingerprint: str = ""
    lm: Any = None  # the model with its language-model head when it was loaded whole (a GGUF file): generate= uses it


_MODELS: dict[tuple, Loaded] = {}
_OFFLOAD: list[str] = []  # the folder accelerate offloads weights to on device "map" (one per process)
_LOCK = threading.RLock()
_IMPORTING = threading.Lock()  # held while torch and transformers are first imported (:func:`import_libraries`)


def clear_models() -> None:
    """Forget every loaded model (frees memory; the next :func:`~mkdocs_attnviz.extract.extract` loads again)."""
    with _LOCK:
        _MODELS.clear()
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover
        pass


def pick_device(device: str) -> str:
    """The device to load on for the option ``device`` (``auto``, ``cpu``, ``cuda[:N]``, ``mps`` or ``map``),
    checked against what this machine has."""
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
    if ref.gguf:
        refused = gguf.unsupported(ref, exc)
        if refused is not None:
            return refused
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
        cached = cached_revisions(ref.source)
        if cached is not None and ref.revision not in cached:
            known = ", ".join(sorted(cached)) or "none"
            return AttnvizError(f"revision {ref.revision!r} of model {ref.name!r} was not found: the local Hugging "
                                f"Face cache holds this model only at {known}, and it could not be downloaded "
                                f"(no network or offline mode). Check the branch, tag or commit, or fill the cache "
                                f"(`hf download {ref.name} --revision {ref.revision}`). "
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
        return AttnvizError(f"model {ref.name!r}{rev} is not available: {reason}. Make it available: fill the "
                            f"Hugging Face cache (`hf download {ref.name}`), build from a filled attention cache "
                            f"with cache_only, or map the name to a local folder. [{type(exc).__name__}: {first}]",
                            option="model", kind="unavailable")
    return AttnvizError(f"could not load the {what} of model {ref.name!r}: {type(exc).__name__}: {first}",
                        option="model")


def check_remote_code(ref: ModelRef, trust_remote_code: bool) -> None:
    """Refuse a local model whose config.json asks for custom code (``auto_map``) unless ``trust_remote_code``."""
    if trust_remote_code or not ref.local or ref.gguf:  # a GGUF file carries no code
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


def from_pretrained(cls: Any, ref: ModelRef, trust_remote_code: bool, **kw: Any) -> Any:
    """``cls.from_pretrained`` on the source of ``ref``, at its revision."""
    kw = dict(kw)
    if ref.gguf:  # config, tokenizer and weights from the one file
        return cls.from_pretrained(trust_remote_code=trust_remote_code, **gguf.kwargs(ref), **kw)
    if ref.revision is not None:
        kw["revision"] = ref.revision
    return cls.from_pretrained(ref.source, trust_remote_code=trust_remote_code, **kw)


def eager_float32_kwargs(config: Any, device: str) -> dict[str, Any]:
    """``from_pretrained`` arguments for a model: ``config``, eager attention, float32 (under the name the
    installed transformers expects) and, on device ``"map"``, ``device_map="auto"``."""
    import torch
    import transformers

    major = int(transformers.__version__.split(".")[0])
    dtype_kw = {"dtype": torch.float32} if major >= 5 else {"torch_dtype": torch.float32}
    kw: dict[str, Any] = dict(config=config, attn_implementation="eager", **dtype_kw)
    if device == "map":  # what fits on no GPU goes to the CPU, what does not fit there to a folder on disk
        kw["device_map"] = "auto"
        kw["offload_folder"] = _offload_folder()
    return kw


def _offload_folder() -> str:
    import atexit
    import shutil
    import tempfile

    if not _OFFLOAD:
        _OFFLOAD.append(tempfile.mkdtemp(prefix="attnviz-offload-"))
        atexit.register(shutil.rmtree, _OFFLOAD[0], True)
    return _OFFLOAD[0]


def kept_model(key: tuple, fingerprint: str, build: Callable[[], Loaded]) -> Loaded:
    """The model kept under ``key`` if it was loaded from weights with this ``fingerprint``, else ``build()``
    it and keep it. The process lock is held throughout: a model is loaded once even from several threads."""
    with _LOCK:
        got = _MODELS.get(key)
        if got is not None and got.fingerprint == fingerprint:
            return got
        loaded = build()
        _MODELS[key] = loaded
        return loaded


def load_model(ref: ModelRef, device: str, trust_remote_code: bool) -> Loaded:
    """Config, tokenizer and model of ``ref`` on ``device`` (from :func:`pick_device`), loaded once per process."""
    key = (ref.source, ref.revision, device, bool(trust_remote_code))
    return kept_model(key, ref.fingerprint, lambda: _load(ref, device, trust_remote_code))


def import_libraries() -> None:
    """Import torch and transformers with what every model class is built on (most of a first model load), before
    any model is known: ``mkdocs serve`` does this in the background from its start. Every loader calls it first:
    one thread imports them while the others wait (transformers replaces its module in ``sys.modules`` as it
    finishes importing, so a ``from transformers import ...`` beside a first import can fail)."""
    with _IMPORTING:
        import torch  # noqa: F401
        import transformers.modeling_utils  # noqa: F401 - PreTrainedModel: every model class imports it
        from transformers import AutoConfig, AutoModel, AutoTokenizer  # noqa: F401


def preload(ref: ModelRef, device: str, trust_remote_code: bool) -> None:
    """Load ``ref`` now (torch, transformers, the weights), so that the next extraction does not wait for it
    (``mkdocs serve`` does this in the background for the models a site uses)."""
    import_libraries()
    load_model(ref, pick_device(device), trust_remote_code)


def _causal_lm(ref: ModelRef, trust_remote_code: bool, kw: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    return from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, **kw)


def _load(ref: ModelRef, device: str, trust_remote_code: bool) -> Loaded:
    check_remote_code(ref, trust_remote_code)
    logger.info("attnviz: loading model %s (%s)", ref.name, device)
    import_libraries()
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = from_pretrained(AutoConfig, ref, trust_remote_code)
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
        tokenizer = from_pretrained(AutoTokenizer, ref, trust_remote_code)
    except Exception as exc:
        raise _load_error(ref, exc, "tokenizer") from None
    if isinstance(tokenizer, bool) or not callable(tokenizer):
        raise AttnvizError(f"model {ref.name!r} has no usable tokenizer", option="model")

    kw = eager_float32_kwargs(config, device)
    kw["output_loading_info"] = True
    lm = None
    with quiet_progress():  # no "Loading weights" bars in the middle of a site build
        try:
            try:
                if getattr(config, "is_encoder_decoder", False):  # with its LM head: greedy generation
                    from transformers import AutoModelForSeq2SeqLM

                    try:
                        model, info = from_pretrained(AutoModelForSeq2SeqLM, ref, trust_remote_code, **kw)
                    except ValueError:
                        model, info = from_pretrained(AutoModel, ref, trust_remote_code, **kw)
                elif ref.gguf and _is_causal(config):  # dequantised once: the base model is the LM's
                    lm, info = _causal_lm(ref, trust_remote_code, kw)
                    model = lm.base_model
                else:
                    model, info = from_pretrained(AutoModel, ref, trust_remote_code, **kw)
            except ValueError as exc:
                if "Unrecognized configuration class" not in str(exc):
                    raise
                from transformers import AutoModelForCausalLM

                model, info = from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, **kw)
        except Exception as exc:
            raise _load_error(ref, exc, "weights") from None
    missing = sorted(k for k in (info or {}).get("missing_keys", ()) if not k.startswith(("pooler.", "lm_head.")))
    vital = [k for k in missing if any(p in k.lower() for p in _VITAL_WEIGHTS)]
    if vital:
        raise AttnvizError(f"the checkpoint of model {ref.name!r} lacks {len(vital)} weights the attention "
                           f"depends on (e.g. {', '.join(vital[:3])}): the weights do not match the "
                           f"architecture in config.json", option="model")
    try:
        if device != "map" and lm is not None:  # with a device map, accelerate has placed the weights already
            lm = lm.to(device=device, dtype=torch.float32)
            model = lm.base_model
        elif device != "map":
            model = model.to(device=device, dtype=torch.float32)
    except Exception as exc:
        raise AttnvizError(f"could not move model {ref.name!r} to {device}: {exc}", option="model") from None
    model.eval()
    if lm is not None:
        lm.eval()
    encdec = bool(getattr(config, "is_encoder_decoder", False))
    loaded = Loaded(tokenizer=tokenizer, model=model, config=config, device=device,
                    causal=_is_causal(config), encoder_decoder=encdec, limit=_model_limit(tokenizer, config),
                    fingerprint=ref.fingerprint, lm=lm)
    # drop an older copy of the same model (e.g. the weights in the folder changed)
    for other in [k for k, v in _MODELS.items() if k[0] == ref.source and v.fingerprint != ref.fingerprint]:
        del _MODELS[other]
    STATS["loads"] += 1
    return loaded
