"""The figure's language: real catalogues (complete, placeholders kept, template up to date), the scripts' words,
language resolution (site, setting, block), cache keys, and Japanese/Chinese/Korean sites built with MkDocs
Material and Sphinx whose figures speak the site's language, looked at in Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from browser import chromium, console_errors, wait_for  # noqa: F401  (chromium is a fixture)
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.i18n import LANGUAGES, LOCALE_DIR, normalize
from mkdocs_attnviz.settings import build_settings, with_site_language
from mkdocs_attnviz.spec import build_spec
from mkdocs_attnviz.texts import Texts, script_words

pytest_plugins = ("sphinx.testing.fixtures",)

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "今日はカレーライスを食べました。"  # seed blog 001's sentence


def catalogue(lang: str):
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "attnviz.po").open("rb") as fh:
        return read_po(fh)


def template():
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "attnviz.pot").open("rb") as fh:
        return read_po(fh)


def test_the_template_holds_every_message_of_the_sources(tmp_path):
    out = tmp_path / "fresh.pot"
    proc = subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "N_",
                           "-k", "n_:1,2", "--no-location", "-o", str(out), "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from babel.messages.pofile import read_po

    with out.open("rb") as fh:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    committed = {m.id if isinstance(m.id, str) else m.id[0] for m in template() if m.id}
    assert fresh - committed == set(), "messages missing from attnviz.pot: run pybabel extract (see i18n.py)"
    assert committed - fresh == set(), "attnviz.pot holds messages no source has any more"


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_each_catalogue_translates_every_message_and_keeps_its_placeholders(lang):
    cat = catalogue(lang)
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in template() if m.id}
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in cat if m.id}
    assert wanted - set(have) == set(), f"{lang}: untranslated messages (pybabel update)"
    for key, message in have.items():
        if key not in wanted:
            continue
        assert not message.fuzzy, (lang, key)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), (lang, key)
        expected = set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == expected, (lang, key, text)
    sample = Texts(lang).selection("model m", 5, "mean", 6, 12, hidden=True)
    assert sample != Texts("en").selection("model m", 5, "mean", 6, 12, hidden=True)


def test_every_word_the_scripts_use_is_in_the_catalogue_and_every_one_is_used():
    code = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "templates").glob("*.js")))
    called = set(re.findall(r"\bt\(\s*\"(\w+)\"", code))
    given = set(Texts("en").script_texts(6, 12, {"aggregate": "rollout", "fusion": "mean", "num_heads": 12}))
    assert called - given == set(), "keys the scripts ask for that no view and not texts.SCRIPT_TEXTS declares"
    unused = {key for key in script_words() if f'"{key}"' not in code and key not in ("all", "mean", "max")}
    assert unused == set(), "script words (texts.SCRIPT_TEXTS, View.words) no script uses"


def test_languages_are_resolved_from_tags_and_refused_clearly():
    assert [normalize(x) for x in ("ja", "ja_JP", "ja-JP", "zh", "zh-CN", "zh_Hans", "ko-KR", "de_AT", "fr", "es-419",
                                   None, "")] == ["ja", "ja", "ja", "zh", "zh", "zh", "ko", "de", "fr", "es", "en", "en"]
    for tag in ("zh_TW", "zh-Hant", "it", "klingon"):
        with pytest.raises(AttnvizError, match="no translation") as info:
            normalize(tag)
        assert info.value.option == "lang"
    with pytest.raises(AttnvizError, match="option 'lang'"):
        build_spec({"model": "m", "lang": "it"}, "x")
    with pytest.raises(AttnvizError, match="setting 'language'"):
        build_settings({"language": "it"}, "/tmp")


def test_a_site_language_without_a_catalogue_leaves_figures_in_english_with_one_warning(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="mkdocs_attnviz"):
        values = with_site_language({"language": None}, "it")
    assert values["language"] is None and "has no translation" in caplog.text
    assert with_site_language({"language": None}, "ja_JP")["language"] == "ja"
    assert with_site_language({"language": "de"}, "ja")["language"] == "de"  # the setting wins


def test_the_language_is_part_of_the_figure_key(tmp_path):
    from mkdocs_attnviz.pipeline import FigureBuilder

    keys = {}
    for site_language, block in (("en", None), ("ja", None), ("en", "ja"), ("ko", None)):
        builder = FigureBuilder(build_settings({"language": site_language, "cache": False}, tmp_path))
        spec = build_spec({"model": "m", **({"lang": block} if block else {})}, "x")
        keys[(site_language, block)] = builder.render_key("e" * 32, spec)
    assert keys[("ja", None)] == keys[("en", "ja")]  # the block's lang= and the site's language: one figure
    assert len({keys[("en", None)], keys[("ja", None)], keys[("ko", None)]}) == 3


# ---------------------------------------------------------------------------------- built sites, looked at

#: every Latin word of the English interface (a figure in another language shows none of them)
ENGLISH = {w.lower() for message in script_words().values() for w in re.findall(r"[A-Za-z]{3,}", message)} | {
    "model", "layer", "head", "heads", "mean", "tokens", "sentence", "interactive", "figure", "needs", "open",
    "attention", "weight", "query", "key", "last"} - {"softmax", "bokehjs", "decompressionstream", "log", "nats"}
ENGLISH -= {"ctrl", "home", "end", "enter", "space"}  # the names on the keys, as the keyboard help writes them
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
PAGE = textwrap.dedent(f"""\
    # Attention

    ```attnviz caption="カレー"
    {SENTENCE}
    ```

    ```attnviz view="heads"
    {SENTENCE}
    ```
    """)


def english_words(text: str) -> set[str]:
    text = text.replace(MODEL, " ").replace("[CLS]", " ").replace("[SEP]", " ")
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w.lower() in ENGLISH}


def figure_pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html") if re.fullmatch(r"[0-9a-f]{32}", p.stem))


def look(chromium, pages: list[Path], lang: str) -> None:
    """Every figure page, opened in Chromium: its language, and no English word in what it shows."""
    assert len(pages) == 2
    for page in pages:
        chromium.get(page.as_uri())
        wait_for(chromium, "window.Attnviz?.ready === true")
        assert chromium.execute_script("return document.documentElement.lang") == lang
        shown = chromium.execute_script(
            "var s = [document.title, document.body.innerText];"
            "document.querySelectorAll('[aria-label],[title]').forEach(function (e) {"
            "  s.push(e.getAttribute('aria-label') || '', e.getAttribute('title') || ''); });"
            "document.querySelectorAll('option').forEach(function (o) { s.push(o.textContent); });"
            "return s.join('\\n');")
        assert CJK.search(chromium.title), chromium.title
        assert english_words(shown) == set(), (page.name, shown)
        assert console_errors(chromium) == []


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("i18n-cache")


@pytest.mark.parametrize("lang, tag", [("ja", "ja"), ("zh", "zh"), ("ko", "ko")])
def test_mkdocs_material_site_speaks_its_language(chromium, tmp_path, minilm_path, shared_cache, lang, tag):
    from test_hostile_support import mkdocs_build

    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text(PAGE, encoding="utf-8")
    (root / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: Attention
        theme:
          name: material
          language: {tag}
        plugins:
          - attnviz:
              cache_dir: {shared_cache}
              models: {{"{MODEL}": "{minilm_path}"}}
              defaults: {{model: "{MODEL}"}}
        """), encoding="utf-8")
    mkdocs_build(root, strict=True)
    html = (root / "site" / "index.html").read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) == 2 and all(CJK.search(c.replace("カレー", "")) for c in captions), captions
    assert english_words(re.sub(r"<[^>]+>", " ", " ".join(captions))) == set(), captions
    # the words of the figures' language are published, not those of every language
    assert [p.name for p in (root / "site" / "assets" / "attnviz").glob("attnviz-texts.*")] == [f"attnviz-texts.{lang}.js"]
    look(chromium, figure_pages(root / "site"), lang)


@pytest.mark.parametrize("lang, tag", [("ja", "ja"), ("zh", "zh_CN"), ("ko", "ko")])
def test_sphinx_site_speaks_its_language(chromium, make_app, tmp_path, minilm_path, shared_cache, lang, tag):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = ['mkdocs_attnviz.sphinx']\nlanguage = {tag!r}\n", encoding="utf-8")
    (src / "index.rst").write_text(textwrap.dedent(f"""\
        Attention
        =========

        .. attnviz:: {MODEL}
           :caption: カレー

           {SENTENCE}

        .. attnviz:: {MODEL}
           :view: heads

           {SENTENCE}
        """), encoding="utf-8")
    app = make_app("html", srcdir=src, builddir=tmp_path / "_build", confoverrides={
        "attnviz_cache_dir": str(shared_cache), "attnviz_models": {MODEL: minilm_path}})
    try:
        app.build()
    finally:
        app.cleanup()
    html = (Path(app.outdir) / "index.html").read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) == 2 and all(CJK.search(c) for c in captions), captions
    pages = figure_pages(Path(app.outdir))
    assert (pages[0].parent / f"attnviz-texts.{lang}.js").is_file()
    look(chromium, pages, lang)



def test_demo_page_shows_seed_001_in_japanese():
    page = (ROOT / "docs" / "languages.md").read_text(encoding="utf-8")
    assert 'lang="ja"' in page and SENTENCE in page
    for code in LANGUAGES:
        assert f"| `{code}` |" in page
    assert "fc-list" in page and "font:" in page  # the note on fonts: what is looked for, how to override


def test_report_speaks_the_language_of_its_front_matter_or_of_lang(tmp_path, minilm_path, shared_cache, capsys):
    from mkdocs_attnviz.cli import main

    spec = tmp_path / "report.md"
    spec.write_text(textwrap.dedent(f"""\
        ---
        lang: ja
        cache_dir: {shared_cache}
        models: {{"{MODEL}": "{minilm_path}"}}
        defaults: {{model: "{MODEL}"}}
        ---
        # 報告

        ```attnviz
        {SENTENCE}
        ```
        """), encoding="utf-8")
    for flags, lang in (([], "ja"), (["--lang", "ko"], "ko")):
        out = tmp_path / f"out-{lang}"
        assert main(["report", str(spec), "-o", str(out), *flags]) == 0, capsys.readouterr().err
        page = (out / "index.html").read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in page
        footer = re.search(r"<footer>(.*?)</footer>", page, re.S).group(1)
        assert CJK.search(footer) and english_words(footer) == set(), footer
        figure = figure_pages(out)[0].read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in figure
    capsys.readouterr()
