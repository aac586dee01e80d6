"""Dependencies point one way: shared definitions (chalicelib) import nothing above them, the
deployables (containers, infra) import neither each other nor the local runtime, and within
chalicelib only the API's own modules import the API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package (or module prefix) -> the packages it must not import
FORBIDDEN = {
    "chalicelib": ("containers", "infra", "shoppulse", "app"),
    "containers": ("infra", "shoppulse", "app"),
    "infra": ("containers", "shoppulse", "app"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    above = FORBIDDEN[package]
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in sorted(_imports(path))
        if name.split(".")[0] in above
    ]
    assert wrong == []


def test_only_the_api_imports_the_api_within_chalicelib() -> None:
    api = ROOT / "chalicelib" / "api"
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("chalicelib")
        if api not in path.parents
        for name in sorted(_imports(path))
        if name == "chalicelib.api" or name.startswith("chalicelib.api.")
    ]
    assert wrong == []
