"""``attnviz render`` and the ``attnviz`` block accept the same options: one flag per key of ``spec.OPTIONS``
(same name, help and metavar), values checked by the block's own parser (same messages), and every kind of option
really reaching the figure (MiniLM, a ``data=`` file, the tiny GPT-2 and BART built from configs)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mkdocs_attnviz import cli
from mkdocs_attnviz.cli.parser import build_parser, subparser
from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.spec import OPTIONS, build_spec
from test_cli import run

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "The cat sat on the mat because it was tired."
PNG = b"\x89PNG\r\n\x1a\n"


def render_flags() -> dict:
    parser = subparser(build_parser(), "render")
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_every_directive_option_is_a_render_flag_with_its_help_and_metavar():
    flags = render_flags()
    for name, option in OPTIONS.items():
        action = flags.get(option.flag(name))
        assert action is not None, f"directive option {name!r} has no flag {option.flag(name)} in attnviz render"
        assert action.dest == name and action.metavar == option.metavar
        assert action.help.replace("%%", "%") == option.help
        # argparse checks nothing: build_spec gives the messages
        assert (action.choices, action.type, action.default, action.required) == (None, None, None, False)
    assert not [flag for flag, action in flags.items() if action.choices]
    assert flags["--text"].help.startswith("the sentence")
    for flag in ("-o", "--resources", "--cache-only", "--no-cache", "--cache-dir", "--model-path", "--device"):
        assert flag in flags, flag
    assert not hasattr(cli, "RENDER_OPTIONS")

    proc = subprocess.run([sys.executable, "-m", "mkdocs_attnviz.cli", "render", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = "".join(proc.stdout.split())  # argparse wraps lines (also at hyphens)
    for name, option in OPTIONS.items():
        assert "".join(f"{option.flag(name)} {option.metavar} {option.help}".split()) in shown, name


#: a value build_spec refuses, for each option that has one (caption takes any text)
BAD = {"model": " ", "revision": "a b", "layer": "first", "head": "twelve", "pair": "\x01", "height": "5",
       "id": "1st", "max_tokens": "1", "special_tokens": "maybe", "view": "pie", "values": "some",
       "colormap": "rainbow", "style": "fancy", "query": " ", "target": "\x01", "max_new_tokens": "0",
       "attention": "self", "data": "matrix.txt", "tokens": "a b", "theme": "sepia", "lang": "klingon", "font": " ", "filter": "AB",
       "aggregate": "sum", "granularity": "char", "compare": "nothing", "generate": "0",
       "live": "maybe"}


def test_bad_values_have_the_words_of_the_block(capsys, tmp_path):
    assert set(BAD) | {"caption"} == set(OPTIONS)
    for name, value in BAD.items():
        options = {"model": "some/model", name: value}
        with pytest.raises(AttnvizError) as info:  # what a fence or a directive with this option says
            build_spec(options, SENTENCE)
        assert info.value.option == name
        flags = [a for key, v in options.items() for a in (OPTIONS[key].flag(key), v)]
        rc, _, err = run(capsys, "render", *flags, "--text", SENTENCE, "-o", tmp_path / "never.png")
        assert rc == 1, (name, err)
        assert err.strip() == f"attnviz: command line: {info.value}", name
    assert not (tmp_path / "never.png").exists()
    rc, _, err = run(capsys, "render", "--model", "m", "--text", "t", "--resources", "nowhere", "-o", tmp_path / "f.html")
    assert rc == 2 and "setting 'resources' is 'nowhere'" in err
    rc, _, err = run(capsys, "render", "--model", "m", "--text", "t", "--device", "gpu", "-o", tmp_path / "f.png")
    assert rc == 2 and "command line: setting 'device' is 'gpu'" in err


def embedded(html: str) -> dict:
    """The figure's own settings, as the page embeds them (the JSON that holds the view and the theme)."""
    start = html.index('"theme":')
    start = html.rindex('<script type="application/json"', 0, start)
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</script>", start)])


def test_every_kind_of_option_reaches_the_figure(tmp_path, capsys, monkeypatch, minilm_path, tiny_gpt2):
    from bokeh.palettes import Magma256

    from models import make_tiny_bart

    cache = tmp_path / "cache"
    minilm = ["--model", MODEL, "--model-path", f"{MODEL}={minilm_path}", "--cache-dir", cache, "--text", SENTENCE]

    def render(*argv, out: str, model=minilm) -> tuple[bytes, str]:
        rc, _, err = run(capsys, "render", *model, *argv, "-o", tmp_path / out)
        assert rc == 0, err
        data = (tmp_path / out).read_bytes()
        assert data.startswith(PNG) if out.endswith(".png") else data.lstrip().lower().startswith(b"<!doctype html")
        return data, err

    # choices
    page, err = render("--view", "bars", "--special-tokens", "hide", "--query", "sat", out="bars.html")
    assert embedded(page.decode())["view"] == "bars" and "special tokens hidden" in err and "token 2 “sat”" in err
    page, err = render("--colormap", "magma", "--values", "true", "--theme", "dark", out="dark.html")
    settings = embedded(page.decode())
    assert settings["theme"] == "dark" and settings["values"] is True and settings["view"] == "heatmap"
    assert sum(c.lower() in page.decode().lower() for c in Magma256) > 20
    _, err = render("--aggregate", "rollout", "--granularity", "word", out="rollout.png")
    assert "rollout up to layer 5 of 6" in err and "words from 13 tokens" in err
    render("--style", "classic", "--font", "DejaVu Sans", out="classic.png")
    # numbers
    _, err = render("--layer", "2", "--head", "3", "--height", "300", "--max-tokens", "8", out="numbers.png")
    assert "layer 2 of 6, head 3 of 12" in err and "only the first 8 are shown (max_tokens=8)" in err
    heights = [json.loads(p.read_text(encoding="utf-8"))["height"] for p in (cache / "render").rglob("*.json")]
    assert 300 in heights
    # texts
    page, err = render("--view", "heads", "--pair", "The dog barked.", "--filter", "AB", "--caption", "Two sentences",
                       "--id", "pair-fig", out="pair.html")
    html = page.decode()
    assert 'id="pair-fig"' in html and "Two sentences" in html and '"dog"' in html
    assert embedded(html)["view"] == "heads" and '"ab"' in html.lower()
    page, err = render("--compare", "layer:0", out="compare.html")
    assert embedded(page.decode())["view"] == "compare" and "layer 0 of 6" in err and "A − B" in err
    # a data= file and its tokens, relative to the current folder: no model
    np.save(tmp_path / "attention.npy", np.full((2, 3, 3, 3), 1 / 3))
    monkeypatch.chdir(tmp_path)
    _, err = render("--data", "attention.npy", "--tokens", "a b c", out="data.png",
                    model=["--cache-dir", cache])
    assert "attention.npy, layer 1 of 2 (last), mean of 3 heads" in err
    # a causal model generating, and an encoder-decoder model (target, attention) from configs
    _, err = render("--generate", "3", out="generate.png",
                    model=["--model", "tiny", "--model-path", f"tiny={tiny_gpt2}", "--cache-dir", cache,
                           "--text", "The cat sat"])
    assert "3 tokens generated greedily" in err
    make_tiny_bart(tmp_path / "bart")
    _, err = render("--view", "heads", "--target", "The dog sat", "--attention", "cross", out="bart.png",
                    model=["--model", "./bart", "--cache-dir", cache, "--text", "The cat sat"])
    assert "cross" in err
    _, err = render("--view", "heads", "--max-new-tokens", "2", "--attention", "decoder", out="bart-decoder.png",
                    model=["--model", "./bart", "--cache-dir", cache, "--text", "The cat sat"])
    assert "decoder" in err
