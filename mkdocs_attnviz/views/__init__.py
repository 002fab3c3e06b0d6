"""Every view of a figure, from one registry.

=========  ==========================================================================================
heatmap    query × key matrix (Bokeh); numbers in the cells, colour maps, the classic matplotlib recipe
           (``style="classic"``), causal masking, the pair boundary, small multiples.
bars       attention each token *receives* (mean over the queries of each column) or that one query token
           *gives* (``query=``), for a layer and a head aggregation (canvas).
heads      bertviz's head view: two token columns, one line per (query, key) weighted by attention and
           coloured by head; hover a token, toggle heads, switch layers, filter A→A/A→B/B→A/B→B.
model      bertviz's model view: a layers × heads grid of thumbnails; click one to enlarge it.
neuron     the query and key vectors, their element-wise product and q·k behind one head's attention
           for one query token.
summary    per layer × head statistics (entropy, distance, special/previous/self/next shares) in one grid;
           click a head to open its heatmap.
compare    (``compare=``, not a ``view=`` value) A, B and A − B side by side.
=========  ==========================================================================================

Each view is one module of this package holding one :class:`~mkdocs_attnviz.views.base.View` (``VIEW``) and one
script ``templates/view-<name>.js``; :data:`REGISTRY` is the one list of them. The option parser's list of views
(:data:`NAMES`), each page's scripts and the words of the figures derive from it: a view declares its title (the alt
text's first words) and its script's words with it (``View.title``, ``View.words``: messages that ``pybabel
extract`` collects into the catalogues; :func:`mkdocs_attnviz.texts.view_titles` and
:func:`~mkdocs_attnviz.texts.script_words` read them from here). Adding a view is one module, one script and one
line here.
"""

from __future__ import annotations

import importlib

__all__ = ["REGISTRY", "NAMES", "CAPTURES", "get", "name_for"]

#: view name → module of this package; ``True``: a value of the ``view=`` option
REGISTRY: dict[str, tuple[str, bool]] = {
    "heatmap": ("heatmap", True),
    "bars": ("bars", True),
    "heads": ("heads", True),
    "model": ("model", True),
    "neuron": ("neuron", True),
    "summary": ("summary", True),
    "compare": ("compare", False),
}

#: what a view's extraction captures besides the attention (``qk``: the query and key vectors), known without
#: importing the view: every build computes the keys of its figures, and a warm build draws none of them
CAPTURES: dict[str, tuple[str, ...]] = {"neuron": ("qk",)}

#: the values of the ``view=`` option
NAMES: tuple[str, ...] = tuple(name for name, (_, option) in REGISTRY.items() if option)


def get(name: str):
    """The :class:`~mkdocs_attnviz.views.base.View` registered as ``name`` (its module is imported on first use)."""
    module, _ = REGISTRY[name]
    return importlib.import_module(f"{__name__}.{module}").VIEW


def name_for(spec) -> str:
    """The view that draws ``spec``: ``compare`` for a comparison, else its ``view=``."""
    return "compare" if spec.compare is not None else spec.view
