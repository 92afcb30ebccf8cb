"""Tool arguments: the annotated types several tools share, size limits, and plain-words
refusals of rejected ones."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field

from atlas_mcp_py.atlas import is_local
from atlas_mcp_py.errors import (
    ArgumentLimit,
)

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_CHARS",
    "MAX_PREDICTION_ID_CHARS",
    "accepts",
    "check_path",
    "check_prediction_id",
    "check_prompt",
    "refused_arguments",
]

MAX_PREDICTION_ID_CHARS = 200
"""Atlas ids are 32 hex characters; generous room for other shapes, none for a blob."""


MAX_NAME_BYTES = 255
"""The longest file or directory name (NAME_MAX) of Linux, macOS and Windows file systems."""


MAX_PATH_CHARS = 4096


_ID_SHAPE = re.compile(r"[^\s\x00-\x1f\x7f]+")
"""One word: no space or control character (Atlas ids are hex; the client quotes the rest)."""


def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def check_prediction_id(prediction_id: str) -> None:
    value = prediction_id.strip()
    if len(value) > MAX_PREDICTION_ID_CHARS:
        raise ArgumentLimit(
            f"prediction_id is {len(value):,} characters long ({_show(value)}); Atlas "
            "prediction ids are short (32 hex characters, like "
            "'4be9c52a0f6b4c1d9e8a7b6c5d4e3f21'). Pass the prediction_id that "
            "atlas_generate_video or atlas_list_jobs returned. Nothing was sent."
        )
    if not _ID_SHAPE.fullmatch(value):
        raise ArgumentLimit(
            f"prediction_id {_show(value)} is not an Atlas prediction id (one word, no "
            "spaces or control characters). Pass the prediction_id that "
            "atlas_generate_video or atlas_list_jobs returned. Nothing was sent."
        )


def check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise ArgumentLimit(
            "prompt is empty (only whitespace): describe the video to make, e.g. "
            "'a mug turning slowly on a wooden table'. Nothing was sent or billed."
        )


def check_path(argument: str, path: str) -> None:
    """A local path argument (`path`, `image`, `save_to`): no name in it longer than any
    file system allows, and no path longer than any allows."""
    if len(path) > MAX_PATH_CHARS:
        raise ArgumentLimit(
            f"{argument} is {len(path):,} characters long ({_show(path)}); paths are at most "
            f"{MAX_PATH_CHARS} characters. Pass a shorter path. Nothing was sent."
        )
    parts = re.split(r"[\\/]" if os.sep == "\\" else "/", path)
    for name in parts:
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            raise ArgumentLimit(
                f"{argument} has a file name of {size} bytes ({_show(name)}); file systems "
                f"allow at most {MAX_NAME_BYTES} bytes per name. Rename the file (or choose "
                "a shorter name) and call again. Nothing was sent."
            )


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


def within_limits(
    *,
    prompt: str | None = None,
    prediction_id: str | None = None,
    paths: Mapping[str, str | None] | None = None,
) -> None:
    """Refuse (`ArgumentLimit`, which says what to pass) an argument no real call has."""
    if prompt is not None:
        check_prompt(prompt)
    if prediction_id is not None:
        check_prediction_id(prediction_id)
    for name, value in (paths or {}).items():
        if value is not None and is_local(value):
            check_path(name, value)


# -- arguments several tools take, defined once ------------------------------------------

PARAMS_HINT: dict[str, Any] = {
    "properties": {
        "seed": {"type": "integer"},
        "negative_prompt": {"type": "string"},
        "aspect_ratio": {"type": "string"},
    }
}
"""The commonest model parameters beyond the named arguments (any other is accepted):
an object argument with no `properties` is refused by Gemini's function calling."""

# Arguments both generate tools take, defined once.
Params = Annotated[
    dict[str, Any] | None,
    Field(description="other model parameters", json_schema_extra=PARAMS_HINT),
]


MaxWait = Annotated[float | None, Field(ge=0, description="cap on the wait")]


DryRun = Annotated[bool, Field(description="show request and cost; send nothing")]


Overwrite = Annotated[bool, Field(description="save_to may replace a file")]


AllowDuplicate = Annotated[bool, Field(description="pay again for a recent twin")]


ConfirmCost = Annotated[bool, Field(description="person approved the cost")]
