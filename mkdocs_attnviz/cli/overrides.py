"""The settings flags of the command line, on top of what a project says.

``--cache-dir DIR``, ``--model-path NAME=FOLDER`` (repeatable), ``--device DEVICE``, ``--cache-only`` and ``--lang``
(``language``) are keys
of :data:`~mkdocs_attnviz.settings.SETTINGS`: :func:`with_flags` lays them over the values a project gives
(``mkdocs.yml``, ``conf.py``, a report SPEC) before :func:`~mkdocs_attnviz.settings.build_settings` turns them
into :class:`~mkdocs_attnviz.settings.Settings`. Folders named on the command line are taken from the current
folder, folders named in a project from the project's root.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Mapping, Sequence

from ..errors import AttnvizError
from ..settings import build_settings
from .common import UsageError

__all__ = ["parse_models", "flag_values", "with_flags"]


def parse_models(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["name=folder", ...]`` (``--model-path``) → ``{name: absolute folder}``."""
    models = {}
    for pair in pairs or ():
        name, sep, folder = pair.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise UsageError(f"--model-path expects NAME=FOLDER, got {pair!r}")
        models[name.strip()] = os.path.abspath(os.path.expanduser(folder.strip()))
    return models


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line sets (only those given), checked with the settings' own messages."""
    values: dict[str, Any] = {}
    if getattr(args, "cache_dir", None):
        values["cache_dir"] = os.path.abspath(os.path.expanduser(args.cache_dir))
    if getattr(args, "device", None):
        values["device"] = args.device
    if getattr(args, "cache_only", False):
        values["cache_only"] = True
    if getattr(args, "language", None):
        values["language"] = args.language
    models = parse_models(getattr(args, "model_path", None))
    if models:
        values["models"] = models
    try:
        build_settings(values, os.getcwd())
    except AttnvizError as exc:
        raise UsageError(f"command line: {exc}") from None
    return values


def with_flags(values: Mapping[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``values`` (a project's settings keys) with the command line's flags on top; ``--model-path`` adds to the
    project's ``models`` (a name in both: the command line wins)."""
    flags = flag_values(args)
    base = values.get("models")
    if "models" in flags and base is not None:
        if isinstance(base, Mapping):
            flags["models"] = {**base, **flags["models"]}
        else:  # not a mapping: left as it is, for build_settings to report
            del flags["models"]
    return {**values, **flags}
