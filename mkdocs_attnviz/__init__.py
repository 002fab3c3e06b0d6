"""mkdocs-attnviz: attention figures computed from the real model at build time.

One pipeline, hosts at the edge: ``spec`` (the options of a block) → ``extract`` (the model, imported lazily) →
``cache`` (content-addressed) → ``prepare`` (the figure prepared once) → a view of :mod:`mkdocs_attnviz.views`
drawn with :mod:`mkdocs_attnviz.toolkit`. The hosts (the ``attnviz`` fence in :mod:`mkdocs_attnviz.fence`, the
MkDocs plugin, the Sphinx extension, the ``attnviz`` command) share one settings builder
(:func:`build_settings`) and one logger (:mod:`mkdocs_attnviz.logs`). See ``docs/architecture.md``.

The names below are the public API (``__all__``; a test enforces that each exists and is defined once). Importing
this package imports neither MkDocs, Sphinx, torch nor transformers; ``show`` and ``NotebookFigure`` (figures in a
notebook, :mod:`mkdocs_attnviz.notebook`) are imported when first used.
"""

from .attention import Attention
from .errors import AttnvizError
from .pipeline import Figure, FigureBuilder
from .settings import SETTINGS, Settings, build_settings
from .spec import OPTIONS, FigureSpec, build_spec, parse_header

__version__ = "0.1.0"
__all__ = ["Attention", "AttnvizError", "Figure", "FigureBuilder", "FigureSpec", "NotebookFigure", "OPTIONS", "SETTINGS",
           "Settings", "build_settings", "build_spec", "parse_header", "show", "__version__"]

_LAZY = {"show": "notebook", "NotebookFigure": "notebook"}  # imported on first use


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
