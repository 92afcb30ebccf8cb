"""The Tasks extension's published JSON Schema (modelcontextprotocol/ext-tasks,
schema/draft/schema.json at e4345978be1f602f1fc48d89051e8559dd5302a6, 2026-08-21),
vendored in tests/fixtures (Apache-2.0, as the ext-tasks repository): `check(name,
wire)` validates a wire object against one of its definitions (`CreateTaskResult`,
`GetTaskResult`, ...)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).resolve().parent / "fixtures" / "ext-tasks-schema.json"


@cache
def _document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA.read_text())
    return data


def check(name: str, instance: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `instance` is a valid `name`."""
    document = _document()
    assert name in document["$defs"], name
    Draft202012Validator({**document, "$ref": f"#/$defs/{name}"}).validate(instance)
