"""``attnviz warm PATH``: build every block of a site or SPEC once, so that the cache holds them all."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Iterable, Sequence

from ..errors import AttnvizError
from ..pipeline import FigureBuilder
from .common import EXIT_FAILED, EXIT_OK, UsageError, display, err
from .projects import load_project

__all__ = ["run"]


def _progress(items: Sequence[Any], desc: str, enabled: bool | None) -> Iterable[Any]:
    if enabled is False:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return items
    return tqdm(items, desc=desc, unit="figure", file=sys.stderr, disable=None if enabled is None else False,
                dynamic_ncols=True)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.path, args)
    settings = dataclasses.replace(project.settings, cache_only=False)
    if not settings.cache or not settings.cache_dir:
        raise UsageError(f"{display(project.path)}: the cache is turned off, so there is nothing to warm")
    builder = FigureBuilder(settings)
    failed = 0
    for block in _progress(project.blocks, "attnviz warm", args.progress):
        if block.error is not None:
            err(f"attnviz: {block.error}")
            builder.rejected()  # the summary counts every failed block
            failed += 1
            continue
        try:
            builder.build(block.spec)
        except AttnvizError as exc:
            err(f"attnviz: {block.located(exc)}")
            failed += 1
    if not project.blocks:
        err(f"attnviz: no attnviz blocks found in {display(project.path)}")
    err(builder.summary() + f"; cache: {display(settings.cache_dir)}")
    return EXIT_FAILED if failed else EXIT_OK
