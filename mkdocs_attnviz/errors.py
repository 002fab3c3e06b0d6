"""The error and the warning of mkdocs-attnviz.

Every problem a page author or site owner can cause is reported as an :class:`AttnvizError`; what went wrong
with a figure that was still built (a sentence cut at ``max_tokens``, a character without a glyph, an option the
model cannot use) is an :class:`AttnvizWarning`. Both carry the option at fault (if any) and, once a host knows
it, the page and the line, so the message a user reads always says *where* and *what*:
``docs/index.md:12: option 'layer': ...``. Every host reports both the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Iterable

__all__ = ["AttnvizError", "AttnvizWarning", "describe", "did_you_mean"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'layer'?"`` for the choice closest to a misspelt ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe(message: str, option: str | None, page: str | None, line: int | None) -> str:
    """``page:line: option 'x': message`` (the parts that are known)."""
    where = ""
    if page:
        where = f"{page}:{line}: " if line else f"{page}: "
    what = f"option '{option}': " if option else ""
    return f"{where}{what}{message}"


class AttnvizError(Exception):
    """A user-facing problem with one figure: bad option, model missing, cache miss...

    ``kind`` sorts it for hosts that type their warnings (Sphinx's ``attnviz.<kind>``): ``"option"``,
    ``"model"``, ``"cache"`` or ``"render"``; left ``None``, :meth:`kind_of` works it out from the option."""

    def __init__(self, message: str, *, option: str | None = None, page: str | None = None,
                 line: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.option = option
        self.page = page
        self.line = line
        self.kind = kind

    def located(self, page: str | None, line: int | None) -> "AttnvizError":
        """Return the same error with a page and line filled in where missing."""
        if self.page is None:
            self.page = page
        if self.line is None:
            self.line = line
        return self

    def __str__(self) -> str:
        return describe(self.message, self.option, self.page, self.line)


@dataclasses.dataclass(frozen=True)
class AttnvizWarning:
    """Something a reader of the build log should know about a figure that was built.

    ``option``: the option it is about (``max_tokens`` for a cut sentence, ``font`` for a missing glyph,
    ``target``/``max_new_tokens`` for an option the model cannot use, ``data`` for a data file), or ``None``."""

    message: str
    option: str | None = None
    page: str | None = None
    line: int | None = None

    def located(self, page: str | None, line: int | None) -> "AttnvizWarning":
        """The same warning with a page and line filled in where missing."""
        return dataclasses.replace(self, page=self.page or page, line=self.line or line)

    def __str__(self) -> str:
        return describe(self.message, self.option, self.page, self.line)
