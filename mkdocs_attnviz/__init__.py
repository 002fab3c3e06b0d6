"""mkdocs-attnviz: attention figures computed from the real model at build time.

The pipeline is ``spec`` → ``extract`` → ``cache`` → ``analysis`` → ``render``; the hosts (the
``attnviz`` fence in :mod:`mkdocs_attnviz.fence`, the MkDocs plugin in :mod:`mkdocs_attnviz.plugin`)
sit at the edge. Importing this package imports neither MkDocs, torch nor transformers.
"""

from .errors import AttnvizError
from .spec import FigureSpec, build_spec, parse_header

__version__ = "0.1.0"
__all__ = ["AttnvizError", "FigureSpec", "build_spec", "parse_header", "__version__"]
