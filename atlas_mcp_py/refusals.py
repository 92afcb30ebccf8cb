"""Refused tool arguments in plain words: which argument, and what it accepts.

The SDK reports a tool's bad arguments as pydantic's own text (error codes, the input
type, a documentation URL), which a model reads as noise. `refused_arguments` rewrites
them from the tool's input schema: "`type` must be one of video, image, audio, text, all
(model kind)". MCP-agnostic: the server hands in the errors and the schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["accepts", "refused_arguments"]


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _resolve(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The property without `$ref` and without the `null` branch of an optional."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        prop = {**defs[ref.rsplit("/", 1)[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
    variants = prop.get("anyOf")
    if isinstance(variants, list):
        others = [v for v in variants if isinstance(v, dict) and v.get("type") != "null"]
        if len(others) == 1:
            merged = {**_resolve(others[0], defs), **prop}
            del merged["anyOf"]
            return merged
    return prop


def _bounds(prop: Mapping[str, Any]) -> str:
    words = []
    if "minimum" in prop:
        words.append(f"at least {_number(prop['minimum'])}")
    if "exclusiveMinimum" in prop:
        words.append(f"above {_number(prop['exclusiveMinimum'])}")
    if "maximum" in prop:
        words.append(f"at most {_number(prop['maximum'])}")
    if "exclusiveMaximum" in prop:
        words.append(f"below {_number(prop['exclusiveMaximum'])}")
    return " and ".join(words)


def accepts(prop: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> str:
    """What a JSON Schema property accepts, in words: "a whole number, at least 1"."""
    prop = _resolve(prop, defs or {})
    values = prop.get("enum")
    if isinstance(values, list) and values:
        return "one of " + ", ".join(str(v) for v in values)
    kind = prop.get("type")
    if kind == "integer":
        words = "a whole number"
    elif kind == "number":
        words = "a number"
    elif kind == "boolean":
        return "true or false"
    elif kind == "object":
        return "an object of names and values"
    elif kind == "array":
        return "a list"
    elif kind == "string":
        words = "text"
        if prop.get("minLength") == 1:
            words += ", not empty"
        elif isinstance(prop.get("minLength"), int):
            words += f", at least {prop['minLength']} characters"
        if isinstance(prop.get("maxLength"), int):
            words += f", at most {prop['maxLength']} characters"
        return words
    else:
        return "a valid value"
    bounds = _bounds(prop)
    return f"{words}, {bounds}" if bounds else words


def _problem(error: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc") or ()]
    name = loc[0] if loc else "arguments"
    props = schema.get("properties") or {}
    prop = props.get(name)
    if not isinstance(prop, dict):
        names = ", ".join(props) or "none"
        return f"`{name}` is not an argument of this tool (its arguments: {names})"
    resolved = _resolve(prop, schema.get("$defs") or {})
    described = resolved.get("description")
    about = f" ({described})" if isinstance(described, str) and described else ""
    if error.get("type") == "missing":
        return f"`{name}` is required: {accepts(prop, schema.get('$defs'))}{about}"
    inner = f" at {'.'.join(loc[1:])}" if len(loc) > 1 and resolved.get("type") != "object" else ""
    return f"`{name}`{inner} must be {accepts(prop, schema.get('$defs'))}{about}"


def refused_arguments(
    tool: str, errors: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]
) -> str:
    """The message for arguments that failed validation: nothing ran, here is the fix."""
    problems = list(dict.fromkeys(_problem(error, schema) for error in errors))
    return (
        f"{tool} was not run, nothing was sent: " + "; ".join(problems) + ". Call it again "
        "with corrected arguments."
    )
