"""``attnviz cache ls [PATH]`` and ``attnviz cache prune PATH...``: what the cache holds, and deleting what no
project uses (the keys of a project's blocks are computed without running any model)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

from ..errors import AttnvizError
from ..pipeline import FigureBuilder
from ..settings import DEFAULT_CACHE
from .common import EXIT_FAILED, EXIT_OK, display, err
from .projects import Project, load_project

__all__ = ["ls", "prune"]

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclasses.dataclass
class _Entry:
    kind: str  # extract | render
    key: str
    files: list[Path]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files if p.exists())


def _entries(root: Path) -> list[_Entry]:
    found: dict[tuple[str, str], _Entry] = {}
    for kind in ("extract", "render"):
        base = root / kind
        if not base.is_dir():
            continue
        for path in sorted(base.glob("*/*")):
            key = re.split(r"[.@]", path.name, maxsplit=1)[0]  # "<key>.png", "<key>@attnviz-doc-<hash>.js"
            if path.name.startswith(".tmp-") or not _KEY_RE.match(key) or path.parent.name != key[:2]:
                continue  # temporary files of a running build, and anything that is not ours, are left alone
            found.setdefault((kind, key), _Entry(kind, key, [])).files.append(path)
    return list(found.values())


def _used_keys(project: Project) -> tuple[set[str], list[str]]:
    """Keys (extraction and figure) the project's blocks use, computed without running any model."""
    modes = [project.settings]
    if project.kind in ("markdown", "yaml"):  # a report may be written either way
        other = "inline" if project.settings.resources == "local" else "local"
        modes.append(dataclasses.replace(project.settings, resources=other))
    used: set[str] = set()
    problems = []
    builders = [FigureBuilder(s) for s in modes]
    for block in project.blocks:
        if block.spec is None:
            continue
        try:
            ekey, _ = builders[0].extraction_key(block.spec)
        except AttnvizError as exc:
            problems.append(str(block.located(exc)))
            continue
        used.add(ekey)
        for b in builders:
            used.add(b.render_key(ekey, block.spec))
    return used, problems


def _describe(entry: _Entry) -> str:
    try:
        if entry.kind == "render":
            meta = json.loads(next(p for p in entry.files if p.suffix == ".json").read_text(encoding="utf-8"))
            return meta.get("description", "")
        import numpy as np

        with np.load(next(p for p in entry.files if p.suffix == ".npz"), allow_pickle=False) as npz:
            header = json.loads(bytes(npz["header"]).decode("utf-8"))
        return f"model {header.get('model')}, {len(header.get('tokens', []))} tokens"
    except Exception:  # a damaged entry is listed, not fatal
        return "(unreadable)"


def _cache_root(args: argparse.Namespace, project: Project | None) -> Path:
    if args.cache_dir:
        return Path(args.cache_dir).resolve()
    if project is not None and project.settings.cache_dir:
        return Path(project.settings.cache_dir)
    return Path(DEFAULT_CACHE).resolve()


def ls(args: argparse.Namespace) -> int:
    project = load_project(args.path, args) if args.path else None
    root = _cache_root(args, project)
    used: set[str] | None = None
    if project is not None:
        used, problems = _used_keys(project)
        for problem in problems:
            err(f"attnviz: {problem}")
    entries = _entries(root)
    total = 0
    for entry in entries:
        size = entry.size
        total += size
        flag = "" if used is None else ("used  " if entry.key in used else "unused")
        print("\t".join(x for x in (entry.kind, entry.key, f"{size}", flag, _describe(entry)) if x != ""))
    err(f"attnviz: {len(entries)} entries, {total / 1e6:.1f} MB in {display(root)}")
    return EXIT_OK


def prune(args: argparse.Namespace) -> int:
    by_root: dict[Path, set[str]] = {}
    problems: list[str] = []
    for path in args.paths:
        project = load_project(path, args)
        used, trouble = _used_keys(project)
        problems += trouble
        by_root.setdefault(_cache_root(args, project), set()).update(used)
    if problems:  # a key we cannot compute may be in use: delete nothing
        for problem in problems:
            err(f"attnviz: {problem}")
        err("attnviz: nothing was deleted: the keys of the blocks above could not be computed")
        return EXIT_FAILED
    removed = kept = freed = 0
    verb = "would delete" if args.dry_run else "deleted"
    for root, used in by_root.items():
        for entry in _entries(root):
            if entry.key in used:
                kept += 1
                continue
            removed += 1
            freed += entry.size
            print(f"{verb}\t{entry.kind}\t{entry.key}")
            if not args.dry_run:
                for file in sorted(entry.files, key=lambda p: p.suffix != ".json"):  # the index first
                    try:
                        file.unlink()
                    except FileNotFoundError:
                        pass
    err(f"attnviz: {verb} {removed} entries ({freed / 1e6:.1f} MB), kept {kept} in use")
    return EXIT_OK
