"""The ``attnviz`` command: static reports, cache warming, single figures and cache housekeeping.

::

    attnviz report SPEC -o DIR [--single-file]     # a report site (or one mailable HTML file)
    attnviz warm PATH [--device cuda]              # fill the cache for every block of a site
    attnviz render --model M --text T -o FILE      # one figure: .html, .png (or .svg); every option is a flag
    attnviz cache ls [PATH]                        # what the cache holds (and what PATH uses)
    attnviz cache prune PATH... [--dry-run]        # delete what PATH does not use

``PATH`` is a ``mkdocs.yml``, a ``zensical.toml``, a Sphinx source folder (with ``conf.py`` loading
``mkdocs_attnviz.sphinx``), or a report ``SPEC``: a Markdown file with ``attnviz`` blocks (its prose is
kept) or a YAML list of figures. Every block goes through the same option parser, pipeline and cache as
the MkDocs plugin and the Sphinx directive: a cache warmed here is what ``cache_only`` builds read.

The package: :mod:`.parser` (argparse), :mod:`.projects` (the blocks of a PATH), :mod:`.overrides` (the
settings flags), one module per command (:mod:`.report`, :mod:`.warm`, :mod:`.render`, :mod:`.cache`) and
:mod:`.common` (exit statuses, messages).

Exit status: 0 ok, 1 a figure failed (its file and line are on stderr), 2 usage error.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Sequence

from .. import logs
from ..errors import AttnvizError
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, err
from .projects import Block, Project, load_project

__all__ = ["main", "Project", "Block", "load_project", "UsageError", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``attnviz`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from .parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        if args.command == "cache":
            parser.exit(EXIT_USAGE, "attnviz: error: cache needs an action: ls or prune\n")
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    module, _, function = args.handler.partition(":")
    command = getattr(importlib.import_module(f".{module}", __name__), function)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.WARNING)
    logs.attach(handler)
    try:
        return command(args)
    except UsageError as exc:
        err(f"attnviz: error: {exc}")
        return EXIT_USAGE
    except AttnvizError as exc:
        err(f"attnviz: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    finally:
        logs.detach(handler)
