"""The libraries' private parts are reached from one module, and tool errors are made in
one module: a scan of the package's source (its syntax trees, nothing imported).

A private part is an `_underscored` attribute or module of `mcp`, `mcp_types`,
`starlette`, `uvicorn` or `sse_starlette`. Without types, an attribute access cannot tell
whose object it reads, so the scan is stricter: any `_name` read as an attribute (or
through `getattr`) that the package does not define itself counts, wherever it is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import atlas_mcp_py

PACKAGE = Path(atlas_mcp_py.__file__).parent
THIRD_PARTY = {"mcp", "mcp_types", "starlette", "uvicorn", "sse_starlette"}
THE_ONE_MODULE = "server/sdk_private.py"

ALLOWED = {
    ("atlas/retry.py", "_request"): "httpx2's, not an MCP-stack library's (see its comment)",
}
"""Private attributes of other libraries, read outside `sdk_private` on purpose."""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _trees() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _own_private_names(trees: dict[str, ast.Module]) -> set[str]:
    """Every `_name` the package defines: functions, classes, attributes, variables."""
    own: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
    return {name for name in own if _private(name)}


def _private_uses(tree: ast.Module, own: set[str]) -> Iterator[tuple[int, str, str]]:
    """(line, the private name, how it is used) of every private use in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] in THIRD_PARTY and (
                any(_private(p) for p in parts) or any(_private(a.name) for a in node.names)
            ):
                yield node.lineno, node.module, f"from {node.module} import ..."
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in THIRD_PARTY and any(_private(p) for p in parts):
                    yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            yield node.lineno, node.attr, f".{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and node.args[1].value not in own
        ):
            name = node.args[1].value
            yield node.lineno, name, f"{node.func.id}(..., {name!r})"


def private_uses_outside_the_one_module() -> list[str]:
    trees = _trees()
    own = _own_private_names(trees)
    found = []
    for name, tree in trees.items():
        if name == THE_ONE_MODULE:
            continue
        for line, private, what in _private_uses(tree, own):
            if (name, private) not in ALLOWED:
                found.append(f"{name}:{line}: {what}")
    return found


def test_only_sdk_private_touches_the_private_parts_of_the_mcp_stack() -> None:
    assert private_uses_outside_the_one_module() == []


def test_the_scan_finds_a_private_attribute_and_a_private_module() -> None:
    tree = ast.parse(
        "from mcp.shared._stream_protocols import ReadStream\n"
        "x = ctx.session._connection\n"
        "y = getattr(session, '_request_outbound', None)\n"
        "z = self._own\n"
    )
    found = [what for _, _, what in _private_uses(tree, own={"_own"})]
    assert found == [
        "from mcp.shared._stream_protocols import ...",
        "._connection",
        "getattr(..., '_request_outbound')",
    ]


def test_the_one_module_documents_every_use() -> None:
    tree = _trees()[THE_ONE_MODULE]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions
    for function in functions:
        doc = ast.get_docstring(function) or ""
        assert "Why:" in doc and "On upgrade:" in doc, function.name


def test_tool_errors_are_made_only_in_results() -> None:
    makers = [
        f"{name}:{node.lineno}"
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "ToolError"
        and name != "server/results.py"
    ]
    assert makers == []
