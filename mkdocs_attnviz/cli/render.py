"""``attnviz render -o FILE``: one figure to ``.html`` (self-contained by default), ``.png`` or ``.svg``.

The flags of the directive options (:mod:`.parser`) are handed, as written, to
:func:`~mkdocs_attnviz.spec.build_spec`, so a bad value gets the block's own message
(``attnviz: command line: option 'layer': ...``, exit status 1). Relative paths (``--model ./folder``,
``--data file.npy``, ``--cache-dir``) are taken from the current folder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import AttnvizError
from ..pipeline import FigureBuilder
from ..settings import Settings, build_settings
from ..spec import OPTIONS, build_spec
from .common import EXIT_FAILED, EXIT_OK, UsageError, display, err
from .overrides import with_flags

__all__ = ["run"]

SUFFIXES = (".html", ".png", ".svg")
WHERE = "command line"  # where a figure's problem is, in its messages


def _settings(args: argparse.Namespace, suffix: str) -> Settings:
    values = {"cache": not args.no_cache, "resources": args.resources or ("inline" if suffix == ".html" else "local")}
    try:
        return build_settings(with_flags(values, args), os.getcwd(), allowed_root=os.path.abspath(os.sep), host="cli")
    except AttnvizError as exc:
        raise UsageError(f"{WHERE}: {exc}") from None


def _check_output(out: Path) -> None:
    """A file ``-o`` cannot be written to is a one-line usage error (a parent that is a file, ``/proc``)."""
    folder = out.parent.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"-o {out}: {display(folder)} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"-o {out}: the folder {display(folder)} cannot be written to")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"-o {args.output}: the file name must end in .html, .png or .svg")
    _check_output(out)  # before the model runs
    settings = _settings(args, suffix)
    options = {name: getattr(args, name) for name in OPTIONS if getattr(args, name, None) is not None}
    try:
        spec = build_spec(options, args.text or "")
        builder = FigureBuilder(settings)
        figure = builder.build(spec)
        if suffix == ".svg":
            data = builder.svg(spec)
        else:
            data = builder.cache.read_render_file(figure.key, suffix)
            if data is None:
                raise AttnvizError(f"the figure has no {suffix} file (is fallback PNG off?)")
    except AttnvizError as exc:
        err(f"attnviz: {WHERE}: {exc}")
        return EXIT_FAILED
    for warning in figure.warnings:
        err(f"attnviz: {warning.located(WHERE, None)}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:  # a folder that is a file, a place nobody may write: one line, no traceback
        err(f"attnviz: -o {display(out)}: cannot write the figure there: {exc.strerror or exc}")
        return EXIT_FAILED
    long_input = any(s not in (".html", ".png") for s in figure.files)
    if suffix == ".html" and (settings.resources != "inline" or long_input):
        # the shared scripts and styles, BokehJS (resources = local) and a long input's side files next to the page
        builder.publish(out.parent, keys=[figure.key], side_only=True)
    err(f"attnviz: {figure.description} → {display(out)}")
    return EXIT_OK
