"""Quieting the progress output of Hugging Face while a model loads.

:func:`quiet_progress` is the one place that turns transformers' progress bars off (no "Loading
weights" bars in the middle of a site build) and back on if they were on. transformers is imported
only when the context is entered.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

__all__ = ["quiet_progress"]


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Inside the ``with`` block, transformers shows no progress bars (nor the plain tqdm bar it draws while
    dequantising a GGUF file); afterwards they are as before."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:  # the GGUF reader calls tqdm itself, under this name
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - another transformers
        gguf_utils = None
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
        if bars:
            hf_logging.enable_progress_bar()
