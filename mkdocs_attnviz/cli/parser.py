"""The command line of ``attnviz``: argparse only.

Each subcommand names its handler (``module:function`` of this package) in ``args.handler``; nothing here runs a
command. ``attnviz render`` gets one flag per directive option, made from :data:`mkdocs_attnviz.spec.OPTIONS`
(``max_tokens`` → ``--max-tokens``, same help and metavar); argparse checks no value itself, so a bad value gets
the directive parser's own message.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..settings import DEFAULT_CACHE
from ..i18n import LANGUAGES
from ..spec import OPTIONS
from .common import EXIT_USAGE

__all__ = ["build_parser", "subparser", "option_help"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit status 2, with our prefix
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"attnviz: error: {message}\n")


def option_help(name: str) -> str:
    """The help of the flag of directive option ``name`` as argparse stores it (``%`` doubled)."""
    return OPTIONS[name].help.replace("%", "%%")


def _settings_flags(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: the project's, else "
                   f"{DEFAULT_CACHE} next to the SPEC)")
    p.add_argument("--model-path", metavar="NAME=FOLDER", action="append", default=[],
                   help="use a local folder or GGUF file for a model name (repeatable), like `models:` in the site "
                   "config")
    if device:
        p.add_argument("--device", metavar="DEVICE", help="where models run on a cache miss: auto, cpu, cuda, "
                       "cuda:N, map (a big model spread over the devices with accelerate) (default: the "
                       "project's setting)")


def _language_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", dest="language", metavar="LANG", help="language of the figures' words and of the "
                   "report's chrome: " + ", ".join(LANGUAGES) + " (default: the project's: front matter `lang`, "
                   "theme.language, Sphinx language)")


def _option_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("figure options", "every option of the attnviz block, as a flag "
                                 "(docs/reference.md); values are checked as in a block")
    for name, option in OPTIONS.items():
        group.add_argument(option.flag(name), dest=name, metavar=option.metavar, help=option_help(name))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="attnviz", description="Attention figures computed from the real transformer: "
                     "static reports, cache warming and single figures, sharing the cache of the MkDocs "
                     "plugin and the Sphinx extension.",
                     epilog="Exit status: 0 ok, 1 a figure failed (file and line on stderr), 2 usage error.")
    parser.add_argument("--version", action="version", version=f"attnviz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("report", help="write a static report (a folder, or one HTML file) from a SPEC",
                       description="Render a SPEC into DIR/index.html plus its assets (opens from file://, "
                       "publishes on GitHub Pages as is). SPEC is a Markdown file with attnviz blocks (the prose "
                       "is kept) or a YAML list of figures (options + text, optional heading and notes).")
    p.add_argument("spec", metavar="SPEC", help="Markdown (.md) or YAML (.yml) file")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="output folder (with --single-file: a folder, or a .html file name)")
    p.add_argument("--single-file", action="store_true",
                   help="one HTML file with everything inlined (BokehJS, data, PNGs): works offline, can be mailed")
    p.add_argument("--title", help="title of the report (default: front matter, first heading or file name)")
    p.add_argument("--cache-only", action="store_true", help="never load a model; a block missing from the "
                   "cache fails")
    _settings_flags(p)
    _language_flag(p)
    p.set_defaults(handler="report:run")

    p = sub.add_parser("warm", help="fill the cache for every block of a site or SPEC",
                       description="Find every attnviz block of PATH (a mkdocs.yml, a zensical.toml, a Sphinx "
                       "source folder or a report SPEC) and fill the cache: run this where torch and the models "
                       "are, commit the cache, and build on CI with cache_only and no torch.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    p.add_argument("--shard", metavar="K/N", help="build only shard K of N (by attention key): N machines fill one "
                   "cache, merged by copying the cache folders into one")
    _settings_flags(p)
    _language_flag(p)
    p.set_defaults(handler="warm:run")

    p = sub.add_parser("render", help="render one figure to .html, .png or .svg",
                       description="Render one figure; the format follows the extension of -o. Every option of "
                       "the attnviz block is a flag of the same name (max_tokens: --max-tokens).")
    p.add_argument("--text", metavar="TEXT", help="the sentence (the body of a block)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="FILE.html, FILE.png or FILE.svg")
    p.add_argument("--resources", metavar="MODE",
                   help="BokehJS in the .html: inline (default, self-contained), local (copied next to it), cdn")
    p.add_argument("--cache-only", action="store_true", help="never load a model")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    _settings_flags(p)
    _option_flags(p)
    p.set_defaults(handler="render:run")

    p = sub.add_parser("cache", help="list or prune the cache", description="Inspect and prune the cache.")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    q = csub.add_parser("ls", help="list the entries of the cache",
                        description="List cache entries (kind, key, bytes, [used/unused for PATH], what).")
    q.add_argument("path", metavar="PATH", nargs="?", help="mark the entries this site or SPEC uses")
    _settings_flags(q, device=False)
    q.set_defaults(handler="cache:ls")
    q = csub.add_parser("prune", help="delete the entries a site does not use",
                        description="Delete every cache entry that none of the PATHs uses (keys are computed "
                        "without running any model). If a block's key cannot be computed, nothing is deleted.")
    q.add_argument("paths", metavar="PATH", nargs="+")
    q.add_argument("--dry-run", "-n", action="store_true", help="only list what would be deleted")
    _settings_flags(q, device=False)
    q.set_defaults(handler="cache:prune")
    return parser


def subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    """The parser of a subcommand: ``subparser(build_parser(), "cache", "prune")``."""
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser
