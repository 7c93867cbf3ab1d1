"""No runtime check of the package is an `assert`: `python -O` removes every one of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("governance", "flows", "deployments")


def asserts_in(path: Path) -> list[int]:
    """Line numbers of the assert statements in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_runtime_check_is_an_assert(package):
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := asserts_in(path))
    }
    assert found == {}


def test_the_scan_sees_an_assert(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f(x):\n    assert x is not None\n    return x\n", encoding="utf-8")
    assert asserts_in(source) == [2]
