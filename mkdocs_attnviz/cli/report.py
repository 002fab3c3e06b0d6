"""``attnviz report SPEC -o DIR``: a static report (a folder, or one mailable HTML file) from a report SPEC.

A Markdown SPEC keeps its prose (rendered with the same fence as MkDocs); a YAML SPEC lists figures with an
optional heading and notes. The folder opens from ``file://`` and publishes on GitHub Pages as is;
``--single-file`` puts every figure page (``<iframe srcdoc>``) and PNG (``data:`` URI) into the page itself, and
BokehJS and the scripts the figure pages share once (:mod:`mkdocs_attnviz.inline`).
"""

from __future__ import annotations

import argparse
import html as html_lib
import re
import tempfile
from pathlib import Path

from .. import __version__
from ..errors import AttnvizError
from ..texts import Texts
from ..inline import Carrier
from ..pipeline import FigureBuilder
from ..toolkit import page
from .common import EXIT_FAILED, EXIT_OK, UsageError, display, err
from .projects import Project, load_project

__all__ = ["run", "PROSE_EXTENSIONS", "code_css"]

#: the Markdown of a report's prose and of a YAML SPEC's notes: admonitions (``!!! note``), tables, fenced and
#: highlighted code, attributes and heading anchors (a Markdown SPEC adds the attnviz fence)
PROSE_EXTENSIONS = ["admonition", "tables", "pymdownx.superfences", "pymdownx.highlight", "attr_list", "toc"]


def code_css() -> str:
    """The colours of highlighted code blocks (Pygments' classes under ``.highlight``)."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="friendly").get_style_defs(".highlight")


def _yaml_body(project: Project, builder: FigureBuilder, url: str, carrier: Carrier | None) -> tuple[str, int]:
    import markdown

    parts, failed = [], 0
    for block in project.blocks:
        heading, notes = block.extra.get("heading"), block.extra.get("notes")
        if heading:
            parts.append(f"<h2>{html_lib.escape(str(heading))}</h2>")
        if notes:
            parts.append(markdown.markdown(str(notes), extensions=PROSE_EXTENSIONS))
        error = block.error
        if error is None:
            try:
                figure = builder.build(block.spec)
                for warning in figure.warnings:
                    err(f"attnviz: {warning.located(block.file, block.line)}")
                parts.append(carrier.figure(builder, figure) if carrier else builder.embed_html(figure, url))
                continue
            except AttnvizError as exc:
                error = block.located(exc)
        else:
            builder.rejected()  # the summary counts every failed block
        err(f"attnviz: {error}")
        failed += 1
        parts.append(builder.error_html(error))
    return "\n".join(parts), failed


def _markdown_body(project: Project, builder: FigureBuilder, assets: Path, url: str, one_file: bool
                   ) -> tuple[str, int]:
    import markdown

    from ..fence import FENCE, AttnvizExtension

    ext = AttnvizExtension(builder=builder, output_dir=None if one_file else str(assets), url=url,
                           page=display(project.path))
    ext.inline = ext.styled = one_file  # one file: each figure carried in the page (the template has the CSS)
    ext.line_offset = project.prose_offset
    md = markdown.Markdown(extensions=[*PROSE_EXTENSIONS, ext],
                           extension_configs={"pymdownx.superfences": {"custom_fences": [FENCE]}})
    body = md.convert(project.prose or "")
    return body, body.count('<div class="attnviz-error')


def run(args: argparse.Namespace) -> int:
    from markupsafe import Markup

    resources = "local"  # one file too: BokehJS and the shared scripts go into it once (mkdocs_attnviz.inline)
    spec_path = Path(args.spec)
    if spec_path.is_dir() or spec_path.suffix.lower() not in (".md", ".markdown", ".yml", ".yaml"):
        raise UsageError(f"{display(spec_path)}: a report SPEC is a Markdown (.md) or a YAML (.yml) file")
    project = load_project(spec_path, args, resources=resources)
    if project.kind not in ("markdown", "yaml"):
        raise UsageError(f"{display(spec_path)}: is a {project.kind} project, not a report SPEC")
    out = Path(args.output)
    if args.single_file and out.suffix.lower() in (".html", ".htm"):
        target, out_dir = out, out.parent
    else:
        target, out_dir = out / "index.html", out
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = FigureBuilder(project.settings)
    with tempfile.TemporaryDirectory(prefix="attnviz-report-") as tmp:
        assets = Path(tmp) if args.single_file else out_dir / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        if project.kind == "markdown":
            body, failed = _markdown_body(project, builder, assets, "assets/", args.single_file)
        else:
            body, failed = _yaml_body(project, builder, "assets/", Carrier(styled=True) if args.single_file else None)
        if args.single_file:
            if re.search(r'(src|href)="assets/', body):
                raise AttnvizError("the single-file report still links to a file in assets/")
        else:
            builder.publish(assets)
        css = page.asset_text("attnviz.css")
        html = page.environment().get_template("report.html.jinja").render(
            title=args.title or project.title or project.path.stem, heading=project.kind == "yaml",
            body=Markup(body), css=Markup(css.replace("</", "<\\/")), code_css=Markup(code_css()),
            version=__version__, source=project.path.name, lang=project.settings.language, _=Texts(project.settings.language)._)
        target.write_text(html, encoding="utf-8")
    if not args.single_file:
        (out_dir / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: publish the folder as is
    err(builder.summary())
    err(f"attnviz: report written to {display(target)}")
    return EXIT_FAILED if failed else EXIT_OK
