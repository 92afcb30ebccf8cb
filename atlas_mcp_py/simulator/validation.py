"""Request validation against a model's input JSON Schema, the way a strict API does it.

Supports the subset of JSON Schema the catalog uses: `type` (one or a list), `enum`,
`minimum`/`maximum` (and the exclusive forms), `minLength`/`maxLength`, `items`,
`minItems`/`maxItems`, `anyOf`/`oneOf`. Every message names the parameter at fault.
"""

from __future__ import annotations

import json
from typing import Any, Final

JsonObject = dict[str, Any]


class ParameterError(ValueError):
    """A request parameter is missing, unknown, or has a bad value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_TYPE_NAMES: Final[dict[str, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def validate_params(schema: JsonObject, params: JsonObject, *, skip: frozenset[str]) -> None:
    """Raise ParameterError unless `params` satisfies `schema` (names in `skip` are ignored)."""
    properties: JsonObject = schema.get("properties", {})
    for name in params:
        if name not in properties and name not in skip:
            known = ", ".join(sorted(set(properties) - skip))
            raise ParameterError(f"Unknown parameter '{name}'. Accepted parameters: {known}.")
    for name in schema.get("required", []):
        if name not in skip and params.get(name) is None:
            raise ParameterError(f"Missing required parameter '{name}'.")
    for name, value in params.items():
        if name in skip:
            continue
        problem = check_value(properties[name], value)
        if problem is not None:
            raise ParameterError(f"Invalid parameter '{name}': {problem}.")


def check_value(schema: JsonObject, value: object) -> str | None:
    """Return what is wrong with `value` under `schema`, or None if it is valid."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options: list[JsonObject] = schema[key]
            problems = [check_value(option, value) for option in options]
            failures = [problem for problem in problems if problem is not None]
            if len(failures) == len(problems):
                return "; or ".join(failures)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_has_type(value, t) for t in types):
            wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
            return f"must be {wanted}, got {_describe(value)}"
    if "enum" in schema and not _in_enum(value, schema["enum"]):
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        return f"must be one of {allowed}, got {_describe(value)}"
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _check_range(schema, float(value))
    if isinstance(value, str):
        return _check_length(schema, value)
    if isinstance(value, list):
        return _check_items(schema, value)
    return None


def _check_range(schema: JsonObject, number: float) -> str | None:
    if "minimum" in schema and number < schema["minimum"]:
        return f"must be at least {schema['minimum']}, got {number:g}"
    if "maximum" in schema and number > schema["maximum"]:
        return f"must be at most {schema['maximum']}, got {number:g}"
    if "exclusiveMinimum" in schema and number <= schema["exclusiveMinimum"]:
        return f"must be greater than {schema['exclusiveMinimum']}, got {number:g}"
    if "exclusiveMaximum" in schema and number >= schema["exclusiveMaximum"]:
        return f"must be less than {schema['exclusiveMaximum']}, got {number:g}"
    return None


def _check_length(schema: JsonObject, text: str) -> str | None:
    if "maxLength" in schema and len(text) > schema["maxLength"]:
        return f"must be at most {schema['maxLength']} characters, got {len(text)}"
    if "minLength" in schema and len(text) < schema["minLength"]:
        return f"must be at least {schema['minLength']} characters, got {len(text)}"
    return None


def _check_items(schema: JsonObject, items: list[object]) -> str | None:
    if "maxItems" in schema and len(items) > schema["maxItems"]:
        return f"must have at most {schema['maxItems']} items, got {len(items)}"
    if "minItems" in schema and len(items) < schema["minItems"]:
        return f"must have at least {schema['minItems']} items, got {len(items)}"
    item_schema = schema.get("items")
    if isinstance(item_schema, dict):
        for index, item in enumerate(items):
            problem = check_value(item_schema, item)
            if problem is not None:
                return f"item {index} {problem}"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_type(value: object, type_name: str) -> bool:
    match type_name:
        case "string":
            return isinstance(value, str)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return _is_number(value)
        case "boolean":
            return isinstance(value, bool)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, dict)
        case "null":
            return value is None
        case _:
            return True


def _in_enum(value: object, allowed: list[object]) -> bool:
    # `True == 1` in Python; JSON Schema keeps booleans and numbers apart.
    return any(type(value) is type(option) and value == option for option in allowed) or (
        _is_number(value) and any(_is_number(o) and value == o for o in allowed)
    )


def _describe(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
