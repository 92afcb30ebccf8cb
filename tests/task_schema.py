"""The Tasks extension's published JSON Schema (modelcontextprotocol/ext-tasks,
schema/draft/schema.json at e4345978be1f602f1fc48d89051e8559dd5302a6, 2026-08-21),
vendored in tests/fixtures (Apache-2.0, as the ext-tasks repository): `check(name,
wire)` validates a wire object against one of its definitions (`CreateTaskResult`,
`GetTaskResult`, ...).

`check_2025(name, wire)` does the same against the task definitions of the 2025-11-25
protocol's schema (modelcontextprotocol/modelcontextprotocol, schema/2025-11-25/schema.json,
vendored in tests/fixtures/mcp-2025-11-25-tasks-schema.json with its license)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).resolve().parent / "fixtures" / "ext-tasks-schema.json"
SCHEMA_2025 = Path(__file__).resolve().parent / "fixtures" / "mcp-2025-11-25-tasks-schema.json"


@cache
def _document(path: Path = SCHEMA) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def check_2025(name: str, instance: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `instance` is a valid 2025-11-25 `name`."""
    check(name, instance, _document(SCHEMA_2025))


def check(name: str, instance: dict[str, Any], document: dict[str, Any] | None = None) -> None:
    """Raise `jsonschema.ValidationError` unless `instance` is a valid `name`."""
    document = document or _document()
    assert name in document["$defs"], name
    Draft202012Validator({**document, "$ref": f"#/$defs/{name}"}).validate(instance)
