"""The Python examples of the README and the documentation match the API: every block
compiles, and every name it imports from calolab exists (running them all would take minutes;
the tutorials in examples/ run in CI)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            out.append((page.relative_to(ROOT).as_posix(), line, m.group(1)))
    return out


BLOCKS = _blocks()


def test_there_are_examples():
    assert any(page == "README.md" for page, _, _ in BLOCKS)


@pytest.mark.parametrize("page,line,code", BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_example_imports_exist(page, line, code):
    tree = ast.parse(code, filename=f"{page}:{line}")
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("calolab"):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(mod, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}"
                ), f"{page}:{line}: {node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("calolab"):
                    modules[alias.asname or alias.name] = importlib.import_module(alias.name)
    # attributes of imported calolab modules (``geo.preset``) exist too
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            assert hasattr(
                modules[node.value.id], node.attr
            ), f"{page}:{line}: {node.value.id} has no {node.attr}"
