"""The local stack's own structure: its moto hooks pinned and checked, its modules acyclic."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from local_stack.moto_hooks import PINNED_MOTO, MotoVersionError, check_moto_version

ROOT = Path(__file__).resolve().parents[2]
LOCAL_STACK = ROOT / "local_stack"


def test_the_hooks_are_pinned_to_the_moto_the_requirements_install() -> None:
    pins = re.findall(r"^moto\[[^\]]*\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)

    assert pins == [PINNED_MOTO]
    check_moto_version()  # the installed one


def test_another_moto_is_refused_with_what_to_do() -> None:
    with pytest.raises(MotoVersionError) as raised:
        check_moto_version("5.3.0")

    assert "needs moto 5.2.5" in str(raised.value)
    assert "moto 5.3.0 is installed" in str(raised.value)
    assert "make clean setup" in str(raised.value)


def test_only_moto_hooks_reaches_into_moto() -> None:
    importers = {
        path.name
        for path in LOCAL_STACK.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            name.split(".")[0] == "moto"
            for name in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        )
    }

    assert importers == {"moto_hooks.py"}


def _local_imports(path: Path) -> set[str]:
    """The local_stack modules `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("local_stack."):
            found.add(node.module.split(".")[1])
    return found


def test_the_local_stack_modules_import_each_other_without_cycles() -> None:
    graph = {path.stem: _local_imports(path) for path in LOCAL_STACK.glob("*.py")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        assert module not in visiting, " -> ".join([*visiting, module])
        if module in done or module not in graph:
            return
        visiting.append(module)
        for target in graph[module]:
            visit(target)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)
