"""Every option is declared once (``spec.OPTIONS``) with its stage, and its stage decides the cache keys it reaches:
changing an ``extraction`` option changes the extraction key (and so the figure's key), a ``render`` option only the
figure's key, a ``page`` option neither. Driven by the table: an option added without a case here fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mkdocs_attnviz import views
from mkdocs_attnviz.cache import digest
from mkdocs_attnviz.extract import ModelRef
from mkdocs_attnviz.modelrefs import ModelRefs
from mkdocs_attnviz.pipeline import FigureBuilder
from mkdocs_attnviz.settings import build_settings
from mkdocs_attnviz.spec import OPTIONS, STAGES, FigureSpec, build_spec, reference_table

SENTENCE = "The cat sat on the mat."

#: for every option: the other options the block needs (beside model="m1") and a value other than the default
CASES: dict[str, tuple[dict[str, str], str]] = {
    "model": ({}, "m2"), "revision": ({}, "v2"), "layer": ({}, "0"), "head": ({}, "1"),
    "pair": ({}, "A second sentence."), "caption": ({}, "A caption"), "height": ({}, "300"), "id": ({}, "fig"),
    "max_tokens": ({}, "8"), "special_tokens": ({}, "hide"), "view": ({}, "bars"), "values": ({}, "true"),
    "colormap": ({}, "magma"), "style": ({}, "classic"), "query": ({}, "2"), "target": ({}, "Le chat."),
    "max_new_tokens": ({}, "5"), "attention": ({}, "cross"), "data": ({"data": "a.npy"}, "b.npy"),
    "tokens": ({"data": "a.npy"}, "w x y z"), "theme": ({}, "dark"), "lang": ({}, "ja"), "font": ({}, "DejaVu Sans"),
    "filter": ({"pair": "A second sentence."}, "AB"), "aggregate": ({}, "rollout"), "granularity": ({}, "word"),
    "compare": ({}, "layer:0"), "generate": ({}, "3"), "live": ({}, "true"),
}


@pytest.fixture
def builder(tmp_path, monkeypatch):
    for name, seed in (("a.npy", 0), ("b.npy", 1)):
        np.save(tmp_path / name, np.random.default_rng(seed).random((4, 4)))

    def model_ref(self, spec):  # the weights a name stands for, without any model: the keys are what is tested
        return ModelRef(name=spec.model, source=spec.model, revision=spec.revision,
                        fingerprint=digest([spec.model, spec.revision]), local=True)

    monkeypatch.setattr(ModelRefs, "ref", model_ref)
    return FigureBuilder(build_settings({"cache": False}, tmp_path, docs_dir=tmp_path))


def keys(builder: FigureBuilder, options: dict[str, str]) -> tuple[str, str]:
    return builder.keys(builder.resolve_inputs(build_spec({"model": "m1", **options}, SENTENCE)))


def test_every_option_has_a_case_and_a_stage():
    assert set(CASES) == set(OPTIONS)
    assert {option.stage for option in OPTIONS.values()} <= set(STAGES)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_an_option_changes_exactly_the_keys_of_its_stage(builder, name):
    context, value = CASES[name]
    assert value != context.get(name), name
    before = keys(builder, context)
    after = keys(builder, {**context, name: value})
    stage = OPTIONS[name].stage
    changed = (before[0] != after[0], before[1] != after[1])
    expected = {"extraction": (True, True), "render": (False, True), "page": (False, False)}[stage]
    assert changed == expected, f"{name} ({stage}): extraction key changed {changed[0]}, figure key {changed[1]}"


def test_a_view_that_captures_more_keys_its_extraction(builder):
    """A view's ``captures`` (the neuron view: query and key vectors) are inputs of the extraction as well."""
    plain = keys(builder, {})
    for name in views.NAMES:
        changed = keys(builder, {"view": name})
        assert (changed[0] != plain[0]) == bool(views.get(name).captures), name
        assert changed[1] != plain[1] or name == "heatmap"


def test_the_spec_the_cli_and_the_docs_are_made_from_the_table():
    fields = {f.name: f for f in dataclasses.fields(FigureSpec)}
    assert set(fields) == set(OPTIONS) | {"text"}
    for name, option in OPTIONS.items():
        if name != "model":
            assert fields[name].default == option.default, name
    spec = build_spec({"model": "m1"}, SENTENCE)
    assert set(spec.extraction_inputs()) | set(spec.render_options()) <= set(OPTIONS) | {"text"}
    from pathlib import Path
    reference = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text(encoding="utf-8")
    assert reference_table() in reference, "docs/reference.md: paste spec.reference_table() over the option table"
