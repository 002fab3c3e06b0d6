"""The page contract: one declared shape (mkdocs_attnviz.contract) that every view's page carries, the same shape
as the scripts' JSDoc types (templates/attnviz-types.js), every script type-checked by tsc."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mkdocs_attnviz import contract, draw
from mkdocs_attnviz.spec import FigureSpec
from mkdocs_attnviz.toolkit import assets
from mkdocs_attnviz.toolkit.page import templates_dir

from test_heatmap import make_attention

ROOT = Path(__file__).resolve().parent.parent
TSC = ROOT / "node_modules" / ".bin" / "tsc"


def typedefs(text: str) -> dict[str, list[str]]:
    """``{name: [property names]}`` of the ``@typedef {Object}`` blocks of a script."""
    out: dict[str, list[str]] = {}
    for block in re.findall(r"/\*\*(.*?)\*/", text, re.S):
        m = re.search(r"@typedef\s+\{Object\}\s+(\w+)", block)
        if m:
            out[m.group(1)] = re.findall(r"@property\s+\{[^}]*\}\s+\[?(\w+)", block)
    return out


def test_the_scripts_types_name_the_contracts_fields():
    declared = typedefs((templates_dir() / assets.TYPES).read_text(encoding="utf-8"))
    for cls in (contract.Payload, contract.AttentionSet, contract.Axis, contract.LiveInfo):
        assert declared[cls.__name__] == contract.fields(cls), cls.__name__


def test_typedef_parser_sees_a_missing_field():
    text = (templates_dir() / assets.TYPES).read_text(encoding="utf-8").replace(" * @property {number} scale", " *")
    assert "scale" not in typedefs(text)["Payload"]


def test_the_scripts_read_this_version_and_the_payloads_scale():
    core = (templates_dir() / "attnviz-common.js").read_text(encoding="utf-8")
    assert re.search(r"A\.VERSION = (\d+);", core).group(1) == str(contract.VERSION)
    for path in sorted(templates_dir().glob("*.js")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("// @ts-check\n"), path.name
        # a weight is the packed byte divided by the payload's scale, never by a number of the script's own
        assert not re.search(r"/\s*\(?\s*255\b|\b255\s*\*", text), path.name


@pytest.mark.parametrize("view", ["heatmap", "bars", "heads", "model", "summary"])
def test_every_views_page_carries_the_payload(view):
    att = make_attention(n=7, layers=2, heads=3)
    page = draw.figure_page(att, FigureSpec(model=att.model, text="w1 w2 w3 w4 w5", view=view))
    data = json.loads(re.search(r'id="attnviz-data">(.*?)</script>', page).group(1))
    assert set(contract.fields(contract.Payload)) <= set(data), view
    assert data["version"] == contract.VERSION and data["scale"] == contract.SCALE and data["view"] == view
    one = data["sets"][data["set"]]
    assert list(one) == contract.fields(contract.AttentionSet) and list(one["q"]) == contract.fields(contract.Axis)
    blocks = re.findall(r'data-set="(\w+)" data-layer="(\d+)"', page)
    assert {s for s, _ in blocks} <= set(data["sets"]) and len(blocks) >= att.num_layers
    # the canvas views colour with the payload's palette; the heatmap with its Bokeh document's mapper (in the page
    # or the site's shared document), so its payload carries none
    from mkdocs_attnviz.toolkit.colors import palette

    assert data["palette"] == (None if view == "heatmap" else palette("viridis")), view


def test_a_view_may_not_replace_a_payload_field():
    axis = contract.Axis(labels=["a"], ticks=["a"], tokens=["a"], special=[False], segments=[0])
    one = contract.AttentionSet(nq=1, nk=1, q=axis, k=axis, causal=False, square=True)
    payload = contract.Payload(version=contract.VERSION, view="x", title="t", model="m", who="w", text="a", pair=None,
                               theme="auto", num_layers=1, num_heads=1, layer=0, head=0, query=None, filter=None,
                               set="self", sets={"self": one}, palette=["#000000"], scale=contract.SCALE,
                               hidden=False, i18n={}, extra={"scale": 1})
    with pytest.raises(ValueError, match="scale"):
        payload.json()


def test_tsc_checks_every_script():
    """``tsc -p .`` (tsconfig.json: allowJs, checkJs, noEmit) over templates/*.js and the contract's typedefs."""
    if shutil.which("node") is None or not TSC.exists():
        pytest.skip("node or node_modules/.bin/tsc is missing (scripts/setup runs `npm ci`)")
    done = subprocess.run([str(TSC), "-p", str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
