"""Hostile input: bad directives, injection attempts, odd models and paths that escape the project.

Every case of docs/reliability.md (sections "Directive", "Injection", "Models", "Files", "Modes") is a
test here; the catalogue of bad blocks lives in test_hostile_support.py. Everything runs offline on
the packaged MiniLM and tiny models built from configs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from mkdocs_attnviz.toolkit import assets
from hypothesis import strategies as st

from mkdocs_attnviz import extract
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.extract.load import check_remote_code
from mkdocs_attnviz.fence import AttnvizFenceError
from mkdocs_attnviz.spec import OPTIONS, build_spec, parse_header
from test_hostile_support import (BACKTICKS, DIRECTIVE_ERRORS, IMG, JINJA, MODEL, MODEL_ERRORS, SCRIPT, SENTENCE,
                                  figure_data, iframe_srcs, make_corrupted, make_fake_hub, make_mamba,
                                  make_remote_folder, mkdocs_build, parse_html, png_text_chunks, tree_snapshot,
                                  write_site)

LOGGER = "mkdocs_attnviz"


# -- the world: a project with model folders, a model outside it, a fake hub cache ------------------

@pytest.fixture(scope="session")
def world(tmp_path_factory, minilm_path, tiny_gpt2):
    root = tmp_path_factory.mktemp("world")
    marker = root / "REMOTE-CODE-RAN"
    shutil.copytree(tiny_gpt2, root / "outside-model")
    make_fake_hub(root / "hub", minilm_path, marker)
    make_mamba(root / "mamba")
    make_corrupted(root / "truncated", tiny_gpt2, "truncated")
    make_corrupted(root / "garbage", tiny_gpt2, "garbage")
    return {"root": root, "marker": marker, "tiny": tiny_gpt2, "minilm": minilm_path,
            "models": {MODEL: minilm_path, "mamba": str(root / "mamba"), "truncated": str(root / "truncated"),
                       "garbage": str(root / "garbage"), "outside-ok": str(root / "outside-model")}}


def populate_project(project: Path, world) -> Path:
    """models/ inside a project: a real tiny model, one asking for remote code, an empty folder, and a
    symlink that points out of the project."""
    models = project / "models"
    models.mkdir(parents=True, exist_ok=True)
    shutil.copytree(world["tiny"], models / "tiny")
    make_remote_folder(models / "remote", world["tiny"], world["marker"])
    (models / "empty").mkdir()
    os.symlink(world["root"] / "outside-model", models / "link-out")
    return project


@pytest.fixture(scope="session")
def project(world):
    return populate_project(world["root"] / "project", world)


@pytest.fixture
def offline_hub(world, monkeypatch):
    """Point the Hugging Face cache at the fake hub and HOME at the world (for ``~/`` paths)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(world["root"] / "hub"))
    monkeypatch.setenv("HOME", str(world["root"]))
    yield
    assert not world["marker"].exists(), "code shipped by a model repository ran"


@pytest.fixture
def md_for(make_md, world, project):
    """A Python-Markdown instance set up like the plugin sets up a project (paths checked against it)."""
    def factory(**settings):
        settings.setdefault("models", world["models"])
        settings.setdefault("defaults", {"model": MODEL})
        settings.setdefault("root", str(project))
        return make_md(**settings)

    return factory


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER]


def fence(header: str, body: str, marks: str = "```") -> str:
    return f"{marks}attnviz {header}".rstrip() + f"\n{body}\n{marks}\n"


# -- Directive ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("on_error", ["warn", "fail"])
@pytest.mark.parametrize("bad", DIRECTIVE_ERRORS, ids=lambda b: b.case)
def test_directive_error(md_for, caplog, bad, on_error):
    md = md_for(on_error=on_error)
    text = "# T\n\nSome text.\n" + fence(bad.header, bad.body)
    if on_error == "fail":
        with pytest.raises(AttnvizFenceError) as info:
            md.convert(text)
        assert str(info.value).startswith("page.md:4: ") and bad.words in str(info.value), str(info.value)
        return
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(text)
    messages = warnings_of(caplog)
    assert len(messages) == 1, messages
    assert messages[0].startswith("attnviz: page.md:4: ") and bad.words in messages[0], messages[0]
    assert 'class="attnviz-error' in html and "attnviz-frame" not in html
    assert "<script" not in html and "<img" not in html  # whatever the header held stays text


def _figure_page(tmp_path, html: str) -> str:
    src = iframe_srcs(html)
    assert len(src) == 1, html
    return (tmp_path / "out" / src[0].split("/")[-1]).read_text(encoding="utf-8")


LONG = ("The cat sat on the mat because it was tired. " * 230)[:10_000]


@pytest.mark.parametrize("header, limit, words", [
    ('model="tiny-gpt2"', 64, "only the first 64 are shown (the model's limit of 64 tokens)"),
    ('max_tokens="16"', 16, "only the first 16 are shown (max_tokens=16)"),
])
def test_ten_thousand_characters_are_truncated_with_a_warning(md_for, world, tmp_path, caplog, header, limit,
                                                              words):
    """(MiniLM's own limit, 512, works the same way but takes 20 s to render: the tiny GPT-2's is 64.)"""
    assert len(LONG) == 10_000
    md = md_for(models={**world["models"], "tiny-gpt2": world["tiny"]})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert("Intro.\n\n" + fence(header, LONG))
    messages = warnings_of(caplog)
    assert len(messages) == 1, messages
    assert messages[0].startswith("attnviz: page.md:3: option 'max_tokens': the input has ")
    assert words in messages[0]
    data = figure_data(_figure_page(tmp_path, html))
    assert data["sets"][data["set"]]["nq"] == limit and data["text"] == " ".join(LONG.split())


UNICODE = {
    "right-to-left": "مرحبا بالعالم — שלום עולם",
    "emoji": "Emoji 🙂 and 🐱 and a family 👩‍👩‍👧 too",
    "han-simplified": "我喜欢学习自然语言处理",
    "han-traditional": "我喜歡學習自然語言處理",
    "japanese": "今日はカレーライスを食べました",
    "hangul": "한국어 문장도 있습니다",
    "bopomofo": "ㄅㄆㄇㄈ 注音",
    "cjk-extension-b": "𠀀𠀁 𪜀",
    "mixed-bidi": "abc אבג 123 عربي 漢字",
}


@pytest.mark.parametrize("model", ["minilm", "tiny-gpt2"])
@pytest.mark.parametrize("case", list(UNICODE))
def test_any_script_gives_a_correct_figure(md_for, tmp_path, caplog, world, model, case):
    md = md_for(models={**world["models"], "tiny-gpt2": world["tiny"]})
    name = MODEL if model == "minilm" else "tiny-gpt2"
    sentence = UNICODE[case]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(fence(f'model="{name}" caption="{sentence}"', sentence))
    # the one warning there may be: the characters no installed font draws, named (never silent boxes)
    from mkdocs_attnviz.toolkit import fonts

    unseen = sorted({c for c in sentence if not c.isspace() and c != "\u200d" and not fonts.drawable(c)})
    messages = warnings_of(caplog)
    if unseen:
        assert len(messages) == 1 and "option 'font'" in messages[0], messages
        assert all(f"U+{ord(c):04X}" in messages[0] for c in unseen), (unseen, messages)
    else:
        assert messages == []
    data = figure_data(_figure_page(tmp_path, html))
    assert data["text"] == sentence
    axis = data["sets"][data["set"]]["q"]
    shown = "".join(label.lstrip("·") for label, sp in zip(axis["labels"], axis["special"]) if not sp)
    for char in sentence.replace(" ", ""):  # every character is shown by some token label
        assert char in shown, (char, axis["labels"])
    assert sentence in parse_html(html).all("iframe")[0].attrs["title"]


# -- the option parser, fuzzed --------------------------------------------------------------------------

_KEYS = st.sampled_from(sorted(OPTIONS) + ["colour", "x", "_", "layer-"])
_VALUES = st.one_of(st.text(max_size=12), st.sampled_from(["last", "all", "mean", "max", "-1", "99", "0", "1e3",
                                                            SCRIPT, IMG, JINJA, "", " ", "٣", "9" * 5000]))
_QUOTED = st.builds(lambda k, v, q: f"{k}={q}{v}{q}", _KEYS, _VALUES, st.sampled_from(['"', "'", ""]))
_HEADERS = st.one_of(st.text(max_size=60), st.lists(st.one_of(_QUOTED, st.text(max_size=8)), max_size=6).map(" ".join))


@settings(max_examples=400, deadline=None)
@given(header=_HEADERS, body=st.one_of(st.text(max_size=40), st.just(SENTENCE)))
def test_fuzz_option_parser_raises_only_our_error(header, body):
    try:
        options = parse_header(header)
    except AttnvizError as exc:
        assert str(exc).strip()
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in options.items())
    try:
        spec = build_spec(options, body, defaults={"model": MODEL})
    except AttnvizError as exc:
        assert str(exc).strip()
        return
    assert spec.text and spec.model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_HEADERS, body=st.text(max_size=30))
def test_fuzz_fence_never_crashes_and_never_injects(md_for, header, body):
    md = md_for(cache_only=True)  # valid blocks end as "not in the cache": no model is run
    if "\n" in header or "\r" in header:
        header = header.replace("\n", " ").replace("\r", " ")
    md.reset()
    html = md.convert("Text.\n\n~~~attnviz " + header + "\n" + body.replace("~~~", "") + "\n~~~\n")
    # Python-Markdown passes raw HTML of ordinary paragraphs through by design (a header that does not
    # make a fence is such a paragraph): what we produce, the error box or the figure, must hold none
    ours = re.findall(r'<div class="attnviz-error.*?</div>|<figure class="attnviz".*?</figure>', html, re.S)
    assert len(ours) == 1, html  # every block is reported exactly once
    parsed = parse_html(ours[0])
    assert not parsed.all("script") and not parsed.all("img") and not parsed.event_handlers(), html


# -- Injection ------------------------------------------------------------------------------------------

def _quote(value: str) -> str:
    return f"'{value}'" if '"' in value else f'"{value}"'


INJECTIONS = {"script": SCRIPT, "img": IMG, "jinja": JINJA, "backticks": BACKTICKS}


def injection_page() -> str:
    parts = ["# Injection\n"]
    for name, payload in INJECTIONS.items():
        parts.append(f"## {name}\n")
        parts.append(f"~~~attnviz caption={_quote(payload)} pair={_quote(payload + ' pair')}\n"
                     f"{payload} sentence\n~~~\n")
    parts.append("## id\n")
    parts.append(f"~~~attnviz id={_quote(IMG)}\n{SENTENCE}\n~~~\n")
    parts.append(f"~~~attnviz id={_quote(SCRIPT)}\n{SENTENCE}\n~~~\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def injected_site(tmp_path_factory, world):
    root = write_site(tmp_path_factory.mktemp("inject") / "project", world["models"], {"index.md": injection_page()})
    before = tree_snapshot(root / "docs")
    mkdocs_build(root)
    assert tree_snapshot(root / "docs") == before  # the docs folder is never written to
    return root


def _figures_of(html: str) -> list[str]:
    return re.findall(r'<figure class="attnviz".*?</figure>', html, re.S)


def test_injection_is_escaped_in_page_attributes_and_alt_text(injected_site):
    html = (injected_site / "site" / "index.html").read_text(encoding="utf-8")
    figures = _figures_of(html)
    assert len(figures) == len(INJECTIONS)
    for (name, payload), fig in zip(INJECTIONS.items(), figures):
        parsed = parse_html(fig)
        assert {e.tag for e in parsed.elements} <= {"figure", "iframe", "noscript", "img", "figcaption", "span", "a",
                                                    "script"}
        # one script: ours, the same in every snippet (the host page's side of its figures, attnviz-host.js)
        assert [x.text for x in parsed.all("script")] == [str(assets.host_script())]
        assert not parsed.event_handlers()
        imgs = parsed.all("img")
        assert len(imgs) == 2 and all(re.fullmatch(r"[./]*assets/attnviz/[0-9a-f]{32}\.png", i.attrs["src"])
                                      for i in imgs)
        sentence = f"{payload} sentence / {payload} pair"
        for img in imgs:  # the PNG alt text holds the payload as text, exactly (then the keys most attended to)
            assert f" for: {sentence} In layer " in img.attrs["alt"], img.attrs["alt"]
        assert f" for: {sentence} In layer " in parsed.all("iframe")[0].attrs["title"]
        caption = parsed.all("figcaption")[0].text
        assert caption.startswith(payload + " "), caption  # shown literally: not markup, not a template
        if name == "jinja":
            assert "49" not in caption and "XXX" not in caption and "class" in caption
    # the two bad ids: refused with an error box, payload nowhere in the page as markup
    boxes = re.findall(r'<div class="attnviz-error.*?</div>', html, re.S)
    assert len(boxes) == 2 and all("option &#39;id&#39;" in b for b in boxes)
    page = parse_html(html)
    assert not page.event_handlers()
    assert not [s for s in page.all("script") if "__pwned" in s.text or "__pwned" in s.attrs.get("src", "")]
    assert not [i for i in page.all("img") if i.attrs.get("src") == "x"]


def test_injection_is_escaped_in_the_figure_page_and_its_data(injected_site):
    html = (injected_site / "site" / "index.html").read_text(encoding="utf-8")
    for (name, payload), src in zip(INJECTIONS.items(), iframe_srcs(html)):
        page_path = injected_site / "site" / src
        page = page_path.read_text(encoding="utf-8")
        parsed = parse_html(page)
        data = figure_data(page)  # the script data parses back to exactly what was written
        assert data["text"] == f"{payload} sentence" and data["pair"] == f"{payload} pair"
        scripts = parsed.all("script")
        kinds = sorted(s.attrs.get("type", "js" if not s.attrs.get("src") else "src") for s in scripts)
        assert [k for k in kinds if k != "src"] == sorted(["application/json"]  # the Bokeh document is shared
                                                          + ["application/octet-stream"] * data["num_layers"]), kinds
        # every script the page runs is a file of the site: the shared scripts and the shared Bokeh document, none
        # written for this figure; BokehJS comes from the site too
        srcs = [s.attrs["src"].split("?")[0] for s in scripts if s.attrs.get("src")]
        docs = [src for src in srcs if re.fullmatch(r"attnviz-doc-[0-9a-f]{12}\.js", src)]
        assert len(docs) == 1 and set(srcs) - set(docs) <= set(assets.files()), srcs
        assert data["bokehjs"]["src"].startswith("bokeh.min.js?v=")
        assert all((page_path.parent / src).is_file() for src in srcs + ["bokeh.min.js"])
        assert "__pwned" not in "".join(s.text for s in scripts if s.attrs.get("type") != "application/json")
        assert not parsed.event_handlers()
        metas = [m.attrs["content"] for m in parsed.all("meta") if m.attrs.get("name") == "description"]
        assert metas == [payload]
        labels = [d.attrs["aria-label"] for d in parsed.all("div") if "aria-label" in d.attrs]
        assert [lab for lab in labels if lab.endswith(f"Sentence: {payload} sentence / {payload} pair")], labels
        for chunk in png_text_chunks(page_path.with_suffix(".png").read_bytes()):
            assert b"pwned" not in chunk and b"{{" not in chunk


# -- Models ---------------------------------------------------------------------------------------------

def _model_header(header: str, world) -> str:
    return header.format(outside=str(world["root"] / "outside-model"))


@pytest.mark.parametrize("on_error", ["warn", "fail"])
@pytest.mark.parametrize("case, header, words", MODEL_ERRORS, ids=[c[0] for c in MODEL_ERRORS])
def test_model_and_path_errors(md_for, offline_hub, world, caplog, case, header, words, on_error):
    md = md_for(on_error=on_error)
    text = "# Models\n\n" + fence(_model_header(header, world), SENTENCE)
    if on_error == "fail":
        with pytest.raises(AttnvizFenceError, match=r"^page\.md:3: ") as info:
            md.convert(text)
        assert words in str(info.value)
        return
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(text)
    messages = warnings_of(caplog)
    assert len(messages) == 1 and messages[0].startswith("attnviz: page.md:3: "), messages
    assert words in messages[0], messages[0]
    assert "attnviz-error" in html and "attnviz-frame" not in html
    if case == "hub-id-offline":  # says how to make the model available
        assert "hf download nobody/no-such-model" in messages[0]  # and where this host maps a name to a folder:
        assert "give the extension models={'nobody/no-such-model': 'path/to/folder'}" in messages[0]
    if case.startswith("remote-code"):
        assert "unless the site owner enables `trust_remote_code`" in messages[0]
    if case.startswith("path-"):
        assert "map a name to it under `models:`" in messages[0]


def test_remote_code_gate_opens_only_when_the_site_enables_it(project, world):
    ref = extract.resolve_model("./models/remote", None, base_dir=str(project), allowed_root=str(project))
    with pytest.raises(AttnvizError, match="trust_remote_code"):
        check_remote_code(ref, False)
    assert check_remote_code(ref, True) is None
    assert not world["marker"].exists()


@pytest.mark.parametrize("header", ['model="acme/minilm"', 'model="acme/minilm" revision="main"',
                                    'model="./models/tiny"', 'model="models/tiny"', 'model="outside-ok"'])
def test_models_that_are_available_work(md_for, offline_hub, tmp_path, caplog, header):
    """A filled hub cache, a folder inside the project, and a `models:` entry pointing outside it."""
    md = md_for()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(fence(header, SENTENCE))
    assert warnings_of(caplog) == [] and len(iframe_srcs(html)) == 1


OUTSIDE = r"^[^/]*'[^']+' points outside the project: files named in a page must stay inside the project$"


@pytest.mark.parametrize("value, why", [
    ("../outside.npy", OUTSIDE), ("models/link-out/x.npy", OUTSIDE),
    ("/etc/passwd.npy", r"is an absolute path: name the file relative to the page or the docs folder$"),
    ("../../etc/passwd", r"expected a \.npy, \.csv or \.json file, got '\.\./\.\./etc/passwd'$")])
def test_data_paths_outside_the_project_never_give_a_figure(md_for, caplog, value, why):
    """docs/reliability.md: a `data=` path that leaves the project is refused, like a model path."""
    md = md_for()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(fence(f'data="{value}"', SENTENCE))
    messages = warnings_of(caplog)
    assert len(messages) == 1 and messages[0].startswith("attnviz: page.md:1: option 'data': "), messages
    assert re.search(why, messages[0]), messages[0]
    assert "attnviz-error" in html and "attnviz-frame" not in html


# -- Modes: every error case at once under a plain build, --strict, and on_error: fail ---------------

def error_page(world) -> tuple[str, list[tuple[int, str]]]:
    lines = ["# Every error", ""]
    expected = []
    # the header that makes no fence goes last: its line is ordinary Markdown, and Python-Markdown takes a raw
    # `<script>` there as the start of an HTML block that may swallow the next fence (still reported)
    directive = sorted(DIRECTIVE_ERRORS, key=lambda b: b.case == "not-an-option")
    cases = [(_model_header(h, world), SENTENCE, w) for _, h, w in MODEL_ERRORS] + \
            [(b.header, b.body, b.words) for b in directive]
    for i, (header, body, words) in enumerate(cases):
        lines += [f"## Case {i}", ""]
        expected.append((len(lines) + 1, words))
        lines += fence(header, body).rstrip("\n").split("\n") + [""]
    return "\n".join(lines), expected


@pytest.fixture
def error_site(tmp_path, world, offline_hub):
    text, expected = error_page(world)
    root = tmp_path / "project"
    populate_project(root, world)
    write_site(root, world["models"], {"index.md": "# Home\n", "errors.md": text})
    return root, expected


def _located(messages: list[str], expected) -> None:
    for line, words in expected:
        prefix = f"attnviz: docs/errors.md:{line}: "
        assert any(m.startswith(prefix) and words in m for m in messages), (line, words, messages)


def test_modes_plain_build_warns_about_every_case_and_shows_boxes(error_site, caplog):
    root, expected = error_site
    before = tree_snapshot(root / "docs")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mkdocs_build(root)
    messages = warnings_of(caplog)
    assert len(messages) == len(expected), messages
    _located(messages, expected)
    html = (root / "site" / "errors" / "index.html").read_text(encoding="utf-8")
    assert html.count('class="attnviz-error') == len(expected) and "attnviz-frame" not in html
    assert tree_snapshot(root / "docs") == before


def test_modes_strict_build_fails_after_reporting_every_case(error_site, caplog):
    from mkdocs.exceptions import Abort

    root, expected = error_site
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(Abort):
        mkdocs_build(root, strict=True)
    _located(warnings_of(caplog), expected)


def test_modes_on_error_fail_stops_at_the_first(error_site, caplog):
    from mkdocs_attnviz.fence import AttnvizFenceError

    root, expected = error_site
    cfg = (root / "mkdocs.yml").read_text().replace("      defaults:", "      on_error: fail\n      defaults:")
    (root / "mkdocs.yml").write_text(cfg)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(AttnvizFenceError) as info:
        mkdocs_build(root)
    line, words = expected[0]
    assert str(info.value).startswith(f"docs/errors.md:{line}: ") and words in str(info.value), str(info.value)
    assert len(warnings_of(caplog)) == 1  # stopped at the first bad block
    assert not (root / "site" / "errors" / "index.html").exists()


def test_unreadable_header_is_reported_once_even_with_a_table_of_contents(make_md, caplog):
    """Found by this suite: the toc extension runs every postprocessor on each heading, so a block whose
    header could not be read was reported once per heading, and its error box pasted into the headings."""
    import markdown

    from mkdocs_attnviz.fence import FENCE, AttnvizExtension

    md = markdown.Markdown(extensions=["toc", "pymdownx.superfences", AttnvizExtension(cache_dir=None, page="p.md")],
                           extension_configs={"pymdownx.superfences": {"custom_fences": [FENCE]}})
    text = "# One\n\n## Two\n\n### Three\n\n" + fence('caption="never closed', SENTENCE)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        html = md.convert(text)
    assert len(warnings_of(caplog)) == 1 and html.count('class="attnviz-error') == 1
    assert "attnviz" not in json.dumps(md.toc_tokens)
