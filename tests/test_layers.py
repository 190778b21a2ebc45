"""Dependencies point one way: plugin -> API -> checks -> engine, records at the bottom.

Read from the source, so a new import that points the wrong way fails here,
whatever the tests that run the code happen to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_mpcheck

PACKAGE = Path(pytest_mpcheck.__file__).parent

#: Each layer, and the layers of ours it may import (itself always).
ALLOWED = {
    "_model": set(),
    "_errors": set(),
    "_settings": {"_model"},
    "_engine": {"_model"},
    "_trace": {"_model"},
    "_checks": {"_model", "_engine", "_trace", "_settings"},
    "_report": {"_model", "_errors", "_settings"},
    "_api": {"_model", "_errors", "_settings", "_checks", "_engine", "_trace", "_report"},
    "plugin": {"_settings", "_report", "_api", "_checks", "_errors"},
    "__init__": {"_errors", "_settings", "_api", "_checks", "_engine", "_model"},
}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    """Our top-level modules or packages that ``path`` imports, lazily or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = path.relative_to(PACKAGE).parts
                base = list(parts[: len(parts) - node.level])
                names = [*base, *module.split(".")] if module else base
                if not names:  # "from . import x": the names are our modules
                    found.update(alias.name for alias in node.names)
                    continue
                found.add(names[0].removesuffix(".py"))
            elif module.startswith("pytest_mpcheck."):
                found.add(module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_mpcheck."):
                    found.add(alias.name.split(".")[1])
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    layer = _layer(path)
    wrong = _imported_layers(path) - ALLOWED[layer] - {layer}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(wrong)}"


def test_the_records_module_is_a_leaf() -> None:
    assert _imported_layers(PACKAGE / "_model.py") == set()


def test_every_exported_name_resolves() -> None:
    for name in pytest_mpcheck.__all__:
        assert getattr(pytest_mpcheck, name) is not None, name
    assert sorted(dir(pytest_mpcheck)) == sorted(pytest_mpcheck.__all__)


def test_type_checkers_see_exactly_the_names_the_package_loads() -> None:
    """The ``TYPE_CHECKING`` imports of ``__init__`` mirror its export table, module by module."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guard = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    seen = {
        alias.name: "." * node.level + (node.module or "")
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name  # an explicit re-export
    }
    assert seen == pytest_mpcheck._LAZY
    assert sorted(pytest_mpcheck.__all__) == sorted(["__version__", *seen])
