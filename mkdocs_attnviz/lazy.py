"""numpy, imported on first use.

A warm build draws nothing, yet it reads every view's words (:func:`mkdocs_attnviz.texts.script_words`), so the
views and the modules they draw with are imported: they take numpy from here, and numpy is imported the first time
one of its names is read (``np.zeros``), never when a module is imported.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["np"]


class _OnFirstUse(types.ModuleType):
    """A stand-in for a module: the first name read from it imports the module; each name is kept once read."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), name)
        setattr(self, name, value)
        return value


np: Any = _OnFirstUse("numpy")
