"""Quieting the progress output of Hugging Face while a model loads.

:func:`quiet_progress` is the one place that turns transformers' progress bars off (no "Loading
weights" bars in the middle of a site build) and back on if they were on. transformers is imported
only when the context is entered.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["quiet_progress"]


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Inside the ``with`` block, transformers shows no progress bars (nor the plain tqdm bar it draws while
    dequantising a GGUF file: ``TQDM_DISABLE``); afterwards they are as before."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before
        if bars:
            hf_logging.enable_progress_bar()
