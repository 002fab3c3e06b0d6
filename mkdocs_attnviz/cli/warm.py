"""``attnviz warm PATH``: build every block of a site or SPEC once, so that the cache holds them all.

``--shard K/N`` builds only the blocks whose attention key falls in shard K of N (the key's hash modulo N), so that
N machines (a CI matrix, several GPU hosts) fill one cache between them: every shard writes the same ``models.json``
(it resolves every block's model), each entry is written by exactly one shard, and copying the N cache folders into
one gives the cache one machine would have written.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
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


def shard_of(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → ``(K, N)`` with 1 ≤ K ≤ N (``None`` when not given)."""
    if text is None:
        return None
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise UsageError(f"--shard expects K/N with 1 ≤ K ≤ N (e.g. 1/4), got {text!r}")
    return int(found.group(1)), int(found.group(2))


def in_shard(builder: FigureBuilder, spec: Any, shard: tuple[int, int] | None) -> bool:
    """Whether ``spec``'s attention belongs to ``shard``: every figure of one attention lands in the same shard."""
    if shard is None:
        return True
    key, _ref = builder.extraction_key(spec)  # also notes the model's fingerprint in models.json, in every shard
    return int(key[:12], 16) % shard[1] == shard[0] - 1


def run(args: argparse.Namespace) -> int:
    shard = shard_of(getattr(args, "shard", None))
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
            if not in_shard(builder, block.spec, shard):
                continue
            builder.build(block.spec)
        except AttnvizError as exc:
            err(f"attnviz: {block.located(exc)}")
            failed += 1
    if not project.blocks:
        err(f"attnviz: no attnviz blocks found in {display(project.path)}")
    err(builder.summary() + f"; cache: {display(settings.cache_dir)}")
    return EXIT_FAILED if failed else EXIT_OK
