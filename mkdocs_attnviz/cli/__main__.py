"""``python -m mkdocs_attnviz.cli``: the ``attnviz`` command."""

import sys

from . import main

sys.exit(main())
