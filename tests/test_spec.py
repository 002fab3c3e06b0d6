"""The option parser shared by every host."""

import pytest

from mkdocs_attnviz.errors import AttnvizError
from mkdocs_attnviz.prepare import resolve_head, resolve_layer
from mkdocs_attnviz.spec import build_spec, parse_header


def test_header_quotes_and_bare_values():
    opts = parse_header('model="a/b" layer=last head=\'mean\' caption="It\'s <b> & \'x\': y"')
    assert opts == {"model": "a/b", "layer": "last", "head": "mean", "caption": "It's <b> & 'x': y"}


def test_header_empty():
    assert parse_header("") == {}
    assert parse_header("   ") == {}


@pytest.mark.parametrize("header, option, words", [
    ('layer="3', "layer", "unterminated quote"),
    ("layer", "layer", "no value"),
    ('layer="1" layer="2"', "layer", "given twice"),
    ('layer="1"head="2"', "layer", "space after"),
    ("=3", None, "cannot read"),
    ("layer=", "layer", "empty value"),
])
def test_header_errors(header, option, words):
    with pytest.raises(AttnvizError) as info:
        parse_header(header)
    assert info.value.option == option
    assert words in str(info.value)


def test_spec_defaults_and_body():
    spec = build_spec({"model": "m"}, "The cat sat\n  on the mat.\n")
    assert spec.text == "The cat sat on the mat."
    assert spec.layer == "last" and spec.head == "mean" and spec.special_tokens == "show"


def test_spec_all_options():
    spec = build_spec({"model": "m", "revision": "v1", "layer": "-2", "head": "3", "pair": "B b",
                       "caption": "C", "height": "500", "id": "fig-1", "max_tokens": "64",
                       "special_tokens": "hide", "view": "heatmap"}, "A a")
    assert (spec.layer, spec.head, spec.pair, spec.height, spec.id, spec.max_tokens) == (-2, 3, "B b", 500, "fig-1", 64)
    assert spec.special_tokens == "hide"
    assert build_spec({"model": "m", "layer": "all", "head": "all"}, "x").layer == "all"
    assert build_spec({"model": "m", "head": "MAX"}, "x").head == "max"


def test_defaults_are_overridden_by_block():
    spec = build_spec({"layer": "1"}, "x", defaults={"model": "m", "layer": "2", "head": "max"})
    assert spec.model == "m" and spec.layer == 1 and spec.head == "max"


@pytest.mark.parametrize("options, body, option", [
    ({"model": "m", "colour": "red"}, "x", "colour"),
    ({"model": "m"}, "", "text"),
    ({"model": "m"}, "  \n\t ", "text"),
    ({}, "x", "model"),
    ({"model": "m", "layer": "top"}, "x", "layer"),
    ({"model": "m", "head": "-1"}, "x", "head"),
    ({"model": "m", "head": "avg"}, "x", "head"),
    ({"model": "m", "height": "tall"}, "x", "height"),
    ({"model": "m", "height": "5"}, "x", "height"),
    ({"model": "m", "id": "1abc"}, "x", "id"),
    ({"model": "m", "id": '"><img src=x>'}, "x", "id"),
    ({"model": "m", "max_tokens": "1"}, "x", "max_tokens"),
    ({"model": "m", "special_tokens": "maybe"}, "x", "special_tokens"),
    ({"model": "m", "pair": "  "}, "x", "pair"),
    ({"model": "m"}, "bell\x07", "text"),
])
def test_spec_errors_name_the_option(options, body, option):
    with pytest.raises(AttnvizError) as info:
        build_spec(options, body)
    assert info.value.option == option
    assert str(info.value).startswith(f"option '{option}': ")


def test_resolve_layer_and_head():
    assert resolve_layer("last", 6) == 5
    assert resolve_layer(-1, 6) == 5
    assert resolve_layer(-6, 6) == 0
    assert resolve_layer("all", 6) == "all"
    with pytest.raises(AttnvizError, match="layer 99 is out of range: the model has 6 layers"):
        resolve_layer(99, 6)
    with pytest.raises(AttnvizError, match="out of range"):
        resolve_layer(-7, 6)
    assert resolve_head(11, 12) == 11
    with pytest.raises(AttnvizError, match="head 12 is out of range"):
        resolve_head(12, 12)


def test_error_location_formatting():
    err = AttnvizError("bad", option="layer").located("docs/index.md", 12)
    assert str(err) == "docs/index.md:12: option 'layer': bad"
