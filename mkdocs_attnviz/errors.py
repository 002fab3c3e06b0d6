"""The one error type of mkdocs-attnviz.

Every problem a page author or site owner can cause is reported as an :class:`AttnvizError`.
It carries the option at fault (if any) and, once a host knows it, the page and the line, so the
message a user reads always says *where* and *what*: ``docs/index.md:12: option 'layer': ...``.
"""

from __future__ import annotations


class AttnvizError(Exception):
    """A user-facing problem with one figure: bad option, model missing, cache miss..."""

    def __init__(self, message: str, *, option: str | None = None, page: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.option = option
        self.page = page
        self.line = line

    def located(self, page: str | None, line: int | None) -> "AttnvizError":
        """Return the same error with a page and line filled in where missing."""
        if self.page is None:
            self.page = page
        if self.line is None:
            self.line = line
        return self

    def __str__(self) -> str:
        where = ""
        if self.page:
            where = f"{self.page}:{self.line}: " if self.line else f"{self.page}: "
        what = f"option '{self.option}': " if self.option else ""
        return f"{where}{what}{self.message}"
