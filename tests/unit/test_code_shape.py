"""Modules stay small and functions short: none over 500 lines, and none over 60 lines unless
the line above its `def` says why (`# long: <reason>`)."""

from __future__ import annotations

import ast
from pathlib import Path

import arcade_hub

PACKAGE = Path(arcade_hub.__file__).parent
MAX_MODULE = 500
MAX_FUNCTION = 60


def test_no_module_is_over_500_lines() -> None:
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE
    }
    assert not long, f"split these modules (lines): {long}"


def test_no_function_is_over_60_lines_without_a_reason() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            reason = lines[first - 2].strip() if first >= 2 else ""
            if length > MAX_FUNCTION and not reason.startswith("# long:"):
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length})")
    assert not long, f"shorten these, or say why above their def (# long: ...): {long}"
