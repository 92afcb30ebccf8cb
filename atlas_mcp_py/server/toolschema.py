"""What `tools/list` publishes: the same schemas and hints in fewer bytes, in the forms
every client accepts.

Every byte of `tools/list` is read by the model in every conversation. These functions
shorten what the SDK derives from the tool signatures without changing what validates:
the server keeps validating arguments against the full schema.

Portable forms (the MCP Inspector's `--strict` tool-schema lint, and the function-calling
subsets of Gemini and OpenAI):
- a single `type` per property, never a type array (`["string", "null"]`): Gemini's
  OpenAPI-subset `parameters` take one type, and the Inspector warns on arrays;
- input schemas have no `null` at all: an optional argument is simply not required, so
  neither `nullable: true` (OpenAPI, not JSON Schema) nor an `anyOf` with `null` (JSON
  Schema, not accepted by older Gemini) is needed;
- output schemas, which no function-calling API reads, keep a nullable field as
  `anyOf: [{type: T}, {type: "null"}]`, the form the Inspector suggests;
- every input property has its `type` (Gemini CLI drops a tool with an untyped one) and an
  object argument has `properties` (Gemini: "should be non-empty for OBJECT type").
"""

from __future__ import annotations

from typing import Any

from mcp.types import Tool as MCPTool
from mcp.types import ToolAnnotations

__all__ = ["compact_schema", "listed_tool"]


def listed_tool(tool: MCPTool) -> MCPTool:
    """The tool as listed: one-line description, compact schemas, only non-default hints."""
    return tool.model_copy(
        update={
            "description": " ".join((tool.description or "").split()),
            "input_schema": _optional_inputs(compact_schema(tool.input_schema)),
            "output_schema": _bare_output(compact_schema(tool.output_schema, outputs=True)),
            "annotations": _explicit_hints(tool.annotations),
        }
    )


def compact_schema(schema: Any, *, outputs: bool = False) -> Any:
    """The same JSON Schema in fewer bytes: `tools/list` is read in every conversation.

    Drops generated `title`s and `default: null`; keeps pydantic's
    `anyOf: [{type: T}, {type: null}]` (never a type array: not every client takes one).
    `outputs`: an output object with named `properties` keeps `additionalProperties: true`
    (clients that build objects from an output schema, fastmcp's, drop the rest without it).
    """
    if isinstance(schema, list):
        return [compact_schema(item, outputs=outputs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: compact_schema(sub, outputs=outputs) for name, sub in value.items()}
        elif key == "description" and isinstance(value, str):
            out[key] = " ".join(value.split())
        else:
            out[key] = compact_schema(value, outputs=outputs)
    if "default" in out and out["default"] is None:
        del out["default"]
    if out.get("additionalProperties") is True and not (outputs and "properties" in out):
        del out["additionalProperties"]  # the JSON Schema default
    return out


def _bare_output(schema: Any) -> Any:
    """An output schema needs no defaults, `required` or descriptions (results carry every
    field; the text explains them), nor the type of a string list's items; single-use
    `$defs` read shorter inline."""
    if not isinstance(schema, dict):
        return schema
    found = schema.get("$defs")
    defs: dict[str, Any] = found if isinstance(found, dict) else {}

    def bare(node: Any) -> Any:
        if isinstance(node, list):
            return [bare(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
            return bare(defs[ref[8:]])
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("default", "required", "description", "$defs"):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {
                    name: _enum_typed(_plain_array(bare(sub))) for name, sub in value.items()
                }
            else:
                out[key] = bare(value)
        return out

    return bare(schema)


def _plain_array(prop: Any) -> Any:
    """A result list of strings (`outputs`, `notes`) is listed as an array: its items'
    type goes without saying (~150 bytes over the three job tools)."""
    if isinstance(prop, dict) and prop.get("items") == {"type": "string"}:
        return {k: v for k, v in prop.items() if k != "items"}
    return prop


def _enum_typed(prop: Any) -> Any:
    """A string enum needs no `"type": "string"` beside it: the values say it."""
    if isinstance(prop, dict) and prop.get("type") == "string" and "enum" in prop:
        values = prop["enum"]
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return {k: v for k, v in prop.items() if k != "type"}
    return prop


def _not_null(prop: Any) -> Any:
    """An optional argument's schema without its `null` branch: leaving it out is how to
    unset it, so no client needs a nullable spelling."""
    variants = prop.get("anyOf") if isinstance(prop, dict) else None
    if not isinstance(variants, list) or {"type": "null"} not in variants:
        return prop
    others = [v for v in variants if v != {"type": "null"}]
    if len(others) != 1 or not isinstance(others[0], dict):
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**others[0], **rest}


def _optional_inputs(schema: Any) -> Any:
    """Optional arguments need not advertise `null`, a boolean flag its `false`
    default, nor any argument `_SELF_EVIDENT` limits; every argument keeps its
    `type` (some clients drop a tool without one)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return schema
    required = set(schema.get("required") or ())
    out: dict[str, Any] = {}
    for name, prop in props.items():
        if name not in required:
            prop = _not_null(prop)
        if (
            isinstance(prop, dict)
            and prop.get("type") == "boolean"
            and prop.get("default") is False
        ):
            prop = {k: v for k, v in prop.items() if k != "default"}
        # "not empty" and "not negative" go without saying; the server still checks them
        prop = {k: v for k, v in prop.items() if not _self_evident(k, v)}
        out[name] = prop
    return {**schema, "properties": out}


_SELF_EVIDENT = {"minLength": 1, "exclusiveMinimum": 0, "minimum": 0}
"""Constraints a listed argument need not state (its name and description imply them)."""


def _self_evident(key: str, value: Any) -> bool:
    return key in _SELF_EVIDENT and type(value) is int and value == _SELF_EVIDENT[key]


_SPEC_HINTS = {
    "read_only_hint": False,
    "destructive_hint": True,
    "idempotent_hint": False,
    "open_world_hint": True,
}
"""The MCP spec's default for each tool annotation hint: stating them costs bytes only."""


def _explicit_hints(annotations: ToolAnnotations | None) -> ToolAnnotations | None:
    if annotations is None:
        return None
    same = {k: None for k, v in _SPEC_HINTS.items() if getattr(annotations, k) == v}
    return annotations.model_copy(update=same)
