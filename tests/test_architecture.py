"""The shape of the package, enforced: no import cycle between its modules, no module taking another module's
underscore names, no module over 500 lines, the core free of MkDocs and Sphinx, and a public API that exists and
defines each name once (``mkdocs_attnviz.__all__``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mkdocs_attnviz

PACKAGE = Path(mkdocs_attnviz.__file__).resolve().parent
NAME = "mkdocs_attnviz"
#: the hosts: the only modules that may import MkDocs or Sphinx
HOSTS = {f"{NAME}.plugin", f"{NAME}.sphinx", f"{NAME}.cli"}
MAX_LINES = 500


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def resolve(module: str, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package(module):
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(module: str) -> list[tuple[str, list[str], ast.AST]]:
    """``(imported module, [names imported from it], node)`` for every import statement of ``module``, at any depth."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, [], node))
        elif isinstance(node, ast.ImportFrom):
            found.append((resolve(module, node.level, node.module), [a.name for a in node.names], node))
    return found


def edges(module: str) -> set[str]:
    """The package modules ``module`` imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    out = set()
    for target, names, _ in imports(module):
        if not target.startswith(NAME):
            continue
        subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
        out.update(subs or [target])
        if subs and len(subs) < len(names):
            out.add(target)
    out.discard(module)
    return {m for m in out if m in MODULES}


def test_no_import_cycle_between_package_modules():
    graph = {m: edges(m) for m in MODULES}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    assert cycles == [], f"modules importing each other (directly or around a loop): {cycles}"


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above is not vacuous: two modules importing each other inside functions are found."""
    monkeypatch.setitem(MODULES, f"{NAME}.zz_a", tmp_path / "a.py")
    monkeypatch.setitem(MODULES, f"{NAME}.zz_b", tmp_path / "b.py")
    (tmp_path / "a.py").write_text("def f():\n    from . import zz_b\n")
    (tmp_path / "b.py").write_text("def g():\n    from .zz_a import f\n")
    assert edges(f"{NAME}.zz_a") == {f"{NAME}.zz_b"} and edges(f"{NAME}.zz_b") == {f"{NAME}.zz_a"}
    with pytest.raises(AssertionError, match="importing each other"):
        test_no_import_cycle_between_package_modules()


def private_uses(module: str) -> list[str]:
    """Underscore names ``module`` takes from another package module (``from x import _y`` or ``x._y``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    bound: set[str] = set()  # local names of imported package modules
    found = []
    for target, names, node in imports(module):
        if not target.startswith(NAME):
            continue
        for alias in node.names:
            full = f"{target}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
            if full in MODULES or (not isinstance(node, ast.ImportFrom) and alias.name in MODULES):
                bound.add(alias.asname or alias.name.split(".")[0])
            elif alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"from {target} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_no_module_takes_another_modules_underscore_names():
    taken = {m: private_uses(m) for m in MODULES}
    assert {m: uses for m, uses in taken.items() if uses} == {}


def test_the_underscore_check_finds_one(tmp_path, monkeypatch):
    (tmp_path / "x.py").write_text("from .spec import _int\nfrom . import cache as c\nc._sha(b'')\n")
    monkeypatch.setitem(MODULES, f"{NAME}.zz_x", tmp_path / "x.py")
    assert private_uses(f"{NAME}.zz_x") == [f"from {NAME}.spec import _int", "c._sha (line 3)"]


def test_no_module_over_500_lines():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_the_core_never_imports_mkdocs_or_sphinx():
    for module in MODULES:
        if module in HOSTS or module.startswith(f"{NAME}.cli."):
            continue
        heavy = [t for t, _, _ in imports(module) if t.split(".")[0] in ("mkdocs", "sphinx", "docutils")]
        assert heavy == [], f"{module} imports {heavy}"


def top_level_names(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    names.add(target.id)
    return names


def test_public_api_exists_and_defines_each_name_once():
    api = mkdocs_attnviz.__all__
    assert len(api) == len(set(api)), "a name is listed twice in __all__"
    for name in api:
        assert hasattr(mkdocs_attnviz, name), f"mkdocs_attnviz.__all__ names {name!r}, which does not exist"
        defined_in = [m for m in MODULES if name in top_level_names(m)]
        assert len(defined_in) == 1, f"{name!r} is defined in {defined_in}: one place only"
        obj = getattr(mkdocs_attnviz, name)
        home = getattr(obj, "__module__", None)
        if home is not None and home.startswith(NAME):
            assert home == defined_in[0], f"{name!r} comes from {home}, defined in {defined_in[0]}"


def test_notebook_names_are_public_and_imported_lazily():
    """``av.show`` and ``av.NotebookFigure`` are public, defined in the notebook host, and ``import mkdocs_attnviz``
    imports neither it nor the CLI, MkDocs or IPython until one is used."""
    import subprocess
    import sys

    assert {"show", "NotebookFigure"} <= set(mkdocs_attnviz.__all__)
    code = ("import sys, mkdocs_attnviz as av; heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mkdocs', 'IPython', 'click') or m.startswith(('mkdocs_attnviz.notebook', 'mkdocs_attnviz.cli')));"
            "before = heavy(); av.show; print(before, av.show.__module__, 'mkdocs_attnviz.notebook' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "mkdocs_attnviz.notebook", "True"]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        mkdocs_attnviz.nothing  # noqa: B018


def test_every_module_exports_what_it_lists():
    for module in MODULES:
        if module.endswith(".__main__"):  # runs the command when imported
            continue
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which does not exist"
