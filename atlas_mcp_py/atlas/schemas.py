"""A model's input schema read out of the OpenAPI document Atlas publishes for it.

The document's shape varies by model: `components.schemas.Input` may be the schema or a
local `$ref` to it, its properties may be `$ref`s too, and some documents have no `Input`
at all but a request body schema under `paths.*.*.requestBody.content.application/json`.
`read_input_schema` finds the schema, inlines every local `$ref` it reaches (a reference
cycle is left as the `$ref`, which is then not judged), merges a top-level `allOf`, and
takes out the properties marked `hidden: true` or `disabled: true`: they are the
platform's own, never offered and never sent. Their names are kept, so that a caller who
passes one hears that it is not settable rather than "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_mcp_py.errors import SchemaUnreadable

__all__ = [
    "InputSchema",
    "read_input_schema",
    "resolve_refs",
]

MAX_NODES = 20_000
"""How many schema nodes inlining may produce before it stops (shared `$ref`s multiply)."""


@dataclass(frozen=True)
class InputSchema:
    """A model's input: the JSON Schema to check requests against, and what it hides."""

    schema: dict[str, Any]
    """`$ref`s inlined; hidden and disabled properties taken out."""
    hidden: frozenset[str] = frozenset()
    """Properties marked `hidden` or `disabled`: never offered, never sent."""


def _pointer(document: Any, ref: str) -> Any:
    """The node a local `#/a/b` reference names, or None."""
    if not ref.startswith("#"):
        return None
    node = document
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def resolve_refs(node: Any, document: Any) -> Any:
    """`node` with every local `$ref` inlined (sibling keywords kept, and winning).

    A reference to something that does not exist, to another document, or back into
    itself (a cycle) is left as it is.
    """
    budget = [MAX_NODES]

    def walk(value: Any, active: tuple[str, ...]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return value
        if isinstance(value, list):
            return [walk(item, active) for item in value]
        if not isinstance(value, Mapping):
            return value
        ref = value.get("$ref")
        if isinstance(ref, str) and ref not in active:
            target = _pointer(document, ref)
            if isinstance(target, Mapping):
                resolved = walk(target, (*active, ref))
                siblings = {k: walk(v, active) for k, v in value.items() if k != "$ref"}
                return {**resolved, **siblings} if isinstance(resolved, dict) else value
        return {key: walk(item, active) for key, item in value.items()}

    return walk(node, ())


def _request_body_schema(document: Mapping[str, Any]) -> Any:
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        return None
    found: list[Any] = []
    for operations in paths.values():
        if not isinstance(operations, Mapping):
            continue
        for method, operation in operations.items():
            body = operation.get("requestBody") if isinstance(operation, Mapping) else None
            content = body.get("content") if isinstance(body, Mapping) else None
            media = content.get("application/json") if isinstance(content, Mapping) else None
            schema = media.get("schema") if isinstance(media, Mapping) else None
            if schema is not None:
                found.append((str(method).lower() != "post", schema))
    found.sort(key=lambda item: item[0])  # a POST's body first
    return found[0][1] if found else None


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """An `allOf` of object schemas folded into one (properties and required joined)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts):
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[Any] = list(merged.get("required") or [])
    for part in parts:
        part = _merge_all_of(dict(part))
        properties.update(part.get("properties") or {})
        required += [n for n in part.get("required") or [] if n not in required]
        for key, value in part.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, value)
    merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _is_hidden(prop: Any) -> bool:
    return isinstance(prop, Mapping) and (
        prop.get("hidden") is True or prop.get("disabled") is True
    )


def read_input_schema(document: Any) -> InputSchema:
    """The input schema of a model's OpenAPI document (or of a bare JSON Schema).

    Raises `SchemaUnreadable` when there is none.
    """
    if not isinstance(document, Mapping):
        raise SchemaUnreadable("the document is not a JSON object, so it holds no Input schema")
    raw: Any = None
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    if isinstance(schemas, Mapping) and "Input" in schemas:
        raw = schemas["Input"]
    if raw is None:
        raw = _request_body_schema(document)
    if raw is None and "properties" in document and "components" not in document:
        raw = document  # a bare JSON Schema
    if raw is None:
        raise SchemaUnreadable("it has no Input schema and no JSON request body schema")
    schema = resolve_refs(raw, document)
    if not isinstance(schema, dict) or "$ref" in schema:
        raise SchemaUnreadable("its Input schema is a reference that leads nowhere")
    schema = _merge_all_of(schema)
    properties = schema.get("properties")
    if properties is not None and not isinstance(properties, Mapping):
        raise SchemaUnreadable("its Input schema's properties are not an object")
    hidden = frozenset(n for n, p in (properties or {}).items() if _is_hidden(p))
    if hidden and properties is not None:
        schema["properties"] = {n: p for n, p in properties.items() if n not in hidden}
        for key in ("required", "x-order-properties"):
            if isinstance(schema.get(key), list):
                schema[key] = [n for n in schema[key] if n not in hidden]
    return InputSchema(schema, hidden)
