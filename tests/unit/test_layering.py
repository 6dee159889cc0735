"""The shared layer's subpackages import only downward, so a newcomer can read it bottom-up:
core -> lemlist -> storage -> analytics -> records -> notify -> workflow -> wiring -> the
triggers' parts (schedules, slack, http_api, which never import each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "lemlist_export"
ORDER = {
    "core": 0,
    "lemlist": 1,
    "storage": 2,
    "analytics": 3,
    "records": 4,
    "notify": 5,
    "workflow": 6,
    "wiring": 7,
    "schedules": 8,
    "slack": 8,
    "http_api": 8,
}


def imported_subpackages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "lemlist_export" and len(parts) > 1:
                found.add(parts[1])
            assert node.level == 0, f"{path.name}: relative import of {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "lemlist_export" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_every_module_lives_in_a_known_subpackage() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}

    assert loose == []
    assert packages == set(ORDER)


@pytest.mark.parametrize("package", sorted(ORDER))
def test_a_subpackage_imports_only_what_lies_below_it(package: str) -> None:
    rank = ORDER[package]
    upward = {
        f"{path.relative_to(PACKAGE)} imports {target}"
        for path in (PACKAGE / package).glob("*.py")
        for target in imported_subpackages(path)
        if target != package and ORDER.get(target, 99) >= rank
    }

    assert upward == set()


@pytest.mark.parametrize("package", sorted(ORDER))
def test_every_subpackage_says_what_it_is_for(package: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))

    assert doc and len(doc) > 30
