"""The one logger of mkdocs-attnviz, and how a host routes it.

Every module of the core logs through :data:`logger` (``logging.getLogger("mkdocs_attnviz")``) and knows
nothing of the host. Each host attaches the logger to its own logging once, with :func:`attach`:

* the MkDocs plugin forwards to ``mkdocs.plugins.attnviz``, so MkDocs prints our lines and ``--strict``
  counts our warnings;
* the Sphinx extension forwards to ``sphinx.mkdocs_attnviz``, so ``-W`` counts them;
* the ``attnviz`` command prints them on stderr.

Attaching twice to the same target is a no-op; :func:`detach` undoes it (the CLI does, tests do).
"""

from __future__ import annotations

import logging

__all__ = ["logger", "attach", "detach", "Forward"]

#: the logger every core module writes to
logger = logging.getLogger("mkdocs_attnviz")


class Forward(logging.Handler):
    """Hands every record of our logger to another logger (the host's), as if it had been logged there."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__(logging.NOTSET)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        if self.target.isEnabledFor(record.levelno):
            self.target.handle(record)


def attach(target: logging.Logger | logging.Handler) -> logging.Handler:
    """Route :data:`logger` to ``target`` (a host's logger, or a handler such as a stderr stream).

    While attached, records go only there (not also to the root logger, which would show them twice).
    Returns the handler in use; :func:`detach` it when the host is done.
    """
    for handler in list(logger.handlers):
        if handler is target or (isinstance(handler, Forward) and handler.target is target):
            return handler
        if isinstance(handler, Forward) and not isinstance(target, logging.Handler):
            logger.removeHandler(handler)  # one host's logging at a time: the latest host wins
    handler = target if isinstance(target, logging.Handler) else Forward(target)
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)  # the host's logger and handlers decide what is shown
    return handler


def detach(handler: logging.Handler) -> None:
    """Undo :func:`attach` for one handler; with none left, records propagate to the root logger again."""
    logger.removeHandler(handler)
    if not logger.handlers:
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
