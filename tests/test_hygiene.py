"""Tests that cannot fail are worse than none: the suite refuses the three shapes such tests took here
(an assertion ending in ``or True``, a catch-all ``except`` around the assertions, ``pytest.raises(Exception)``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
BROAD = {"Exception", "BaseException"}


def _broad(node: ast.expr | None) -> bool:
    """``None`` (a bare ``except:``), ``Exception``/``BaseException``, or a tuple holding one of them."""
    if node is None:
        return True
    if isinstance(node, ast.Tuple):
        return any(_broad(e) for e in node.elts)
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    return name in BROAD


def problems(source: str, filename: str = "<test>") -> list[str]:
    """Every inert-test shape in ``source``, as ``file:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.Or):
            last = node.test.values[-1]
            if isinstance(last, ast.Constant) and bool(last.value):
                found.append(f"{filename}:{node.lineno}: assertion ends in `or {last.value!r}`")
        elif isinstance(node, ast.ExceptHandler) and _broad(node.type):
            found.append(f"{filename}:{node.lineno}: catch-all `except` in a test")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "raises"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "pytest" and node.args
              and _broad(node.args[0])):
            found.append(f"{filename}:{node.lineno}: pytest.raises of any exception")
    return found


@pytest.mark.parametrize("snippet, what", [
    ("assert x == 1 or True", "or True"),
    ("assert a or b or 1", "or 1"),
    ("try:\n    f()\nexcept Exception:\n    pass", "catch-all"),
    ("try:\n    f()\nexcept:\n    pass", "catch-all"),
    ("try:\n    f()\nexcept (KeyError, BaseException):\n    pass", "catch-all"),
    ("with pytest.raises(Exception):\n    f()", "any exception"),
    ("with pytest.raises((ValueError, Exception)):\n    f()", "any exception"),
])
def test_the_check_finds_each_inert_shape(snippet, what):
    found = problems(snippet)
    assert len(found) == 1 and what in found[0], found


def test_precise_tests_pass_the_check():
    assert problems("assert x == 1 or y == 2\ntry:\n    f()\nexcept KeyError:\n    pass\n"
                    "with pytest.raises(ValueError, match='x'):\n    f()\n") == []


def test_no_test_in_the_suite_is_inert():
    found = [p for path in sorted(TESTS.rglob("*.py")) for p in problems(path.read_text(encoding="utf-8"),
                                                                            str(path.relative_to(TESTS)))]
    assert found == []
