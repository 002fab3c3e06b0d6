"""A rendered figure as a host sees it (:class:`Figure`) and the names its files are published under."""

from __future__ import annotations

import dataclasses

from .errors import AttnvizWarning
from .spec import FigureSpec

__all__ = ["Figure", "file_name"]


@dataclasses.dataclass
class Figure:
    """A rendered figure: what a host needs to embed it."""

    key: str
    spec: FigureSpec
    height: int
    description: str  # "model M, layer 5 of 6 (last), mean of 12 heads"
    alt: str
    files: tuple[str, ...]  # suffixes present: (".html", ".png"), a long input's side files (".l0.mean.js"...), shared
    # files ("@attnviz-doc-<hash>.js", see file_name)
    cached: bool
    warnings: list[AttnvizWarning]  # what a host reports about the figure, each naming its option

    def filename(self, suffix: str) -> str:
        return file_name(self.key, suffix)


def file_name(key: str, suffix: str) -> str:
    """The published name of a figure's file: ``<key><suffix>``, or, for a suffix ``@<name>``, ``<name>`` — a file
    several figures share (a heatmap's Bokeh document), kept in each figure's cache entry."""
    return suffix[1:] if suffix.startswith("@") else f"{key}{suffix}"
