"""The house rules of the code base, checked on the source: packages along the data path,
imports only downwards, small modules and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "attviz"

# Floors of the package, lowest first: a module may import its own package and lower floors.
FLOORS = {
    "attviz.errors": 0, "attviz.dims": 0, "attviz.version": 0, "attviz.workers": 0,
    "attviz.store": 1, "attviz.analysis": 1,
    "attviz.precompute": 2, "attviz.interop": 2,
    "attviz.relations": 3,
    "attviz.explore": 4,
    "attviz.lab": 5,
    "attviz.api": 6, "attviz.cli": 6, "attviz.testing": 6, "attviz": 7,
}
MAX_FLAT_MODULES = 8
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The floor table's entry ``module`` belongs to (its longest prefix)."""
    best = max((u for u in FLOORS if module == u or module.startswith(u + ".")), key=len)
    return best


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every attviz import in ``path``, at any depth."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("attviz")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("attviz"):
                # `from . import dims` imports the module attviz.dims
                out += [(node.lineno, f"{target}.{a.name}" if f"{target}.{a.name}" in FLOORS
                         else target) for a in node.names]
    return out


def test_flat_modules_are_few():
    flat = [p.name for p in PACKAGE.glob("*.py")]
    assert len(flat) <= MAX_FLAT_MODULES, flat


def test_every_module_has_a_floor():
    for path in modules(PACKAGE):
        assert unit_of(module_name(path)) != "attviz" or path.parent == PACKAGE, path


@pytest.mark.parametrize("path", modules(PACKAGE), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down(path):
    here = unit_of(module_name(path))
    for line, target in imported(path):
        there = unit_of(target)
        assert there == here or FLOORS[there] < FLOORS[here], (
            f"{path.relative_to(ROOT)}:{line} imports {target} (floor {FLOORS[there]}) from "
            f"floor {FLOORS[here]}")


def test_modules_and_functions_are_small():
    too_long = []
    for folder in ("attviz", "tests", "benchmarks", "scripts", "apps"):
        for path in modules(ROOT / folder):
            src = path.read_text()
            if src.count("\n") > MAX_MODULE_LINES:
                too_long.append(f"{path.relative_to(ROOT)}: {src.count(chr(10))} lines")
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                                        f"{n} lines")
    assert not too_long, "\n".join(too_long)
