"""Arguments checked against a model's input schema before anything is billed.

Atlas publishes each model's input as a JSON Schema (`components.schemas.Input`). This
module checks a request body against it the way a careful API would: unknown names,
missing required parameters, and every value the schema refuses (judged by `jsonschema`
in `value_check`). It reports every problem at once, each naming the parameter, and
lists the accepted ones, so the caller can fix everything in one go.

Two kindnesses, both visible in the returned body (and so in `dry_run`):
- values that are plainly meant as the schema's type are converted: `6` for a string
  enum of `"6"`, `"10"` for an integer, `6.0` for an integer;
- a required parameter the caller left out is filled with the schema's default.
`defaults` also lists every other default, so that two requests that mean the same
job compare equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_mcp_py.errors import ArgumentError

__all__ = [
    "Validated",
    "accepted_names",
    "check_value",
    "non_finite",
    "validate_arguments",
]

JsonObject = dict[str, Any]


def check_value(schema: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with `value` under `schema`, or None: `value_check.check_value`,
    imported on first use, as it loads `jsonschema` (~50 ms), which the server's start
    need not pay: only a generate call judges values."""
    from atlas_mcp_py.jobs.value_check import check_value as judge

    return judge(schema, value)


def non_finite(value: object, where: str = "params") -> str | None:
    """Where a NaN or infinity sits in `value` (`params.guidance is nan`), or None: JSON
    has no such numbers, so a body holding one cannot be sent."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}"
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = non_finite(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}")
        if found is not None:
            return found
    return None


def _unchecked_pattern(schema: Mapping[str, Any]) -> str | None:
    from atlas_mcp_py.jobs.value_check import unchecked_pattern

    return unchecked_pattern(schema)


@dataclass
class Validated:
    """A body that passed: converted values and filled required defaults included."""

    body: JsonObject
    defaults: JsonObject = field(default_factory=dict)
    """Every default of a parameter the body does not set (for comparing requests)."""
    filled: list[str] = field(default_factory=list)
    """Required parameters filled with their default."""
    converted: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Parameters set whose `pattern` could not be judged in bounded time (Atlas will)."""


def accepted_names(schema: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """The parameter names of a schema, in its published order, required ones first."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    order = schema.get("x-order-properties")
    names = [n for n in order if n in properties] if isinstance(order, list) else []
    names += [n for n in properties if n not in names]
    skipped = set(skip)
    required = _required(schema)
    names = [n for n in names if n not in skipped]
    return [n for n in names if n in required] + [n for n in names if n not in required]


def _required(schema: Mapping[str, Any]) -> set[str]:
    required = schema.get("required")
    return {str(n) for n in required} if isinstance(required, list) else set()


def _open_to_extras(schema: Mapping[str, Any]) -> bool:
    """Does the schema explicitly allow names it does not list?"""
    extra = schema.get("additionalProperties")
    return extra is True or isinstance(extra, dict)


def validate_arguments(
    schema: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    model: str = "this model",
    skip: Iterable[str] = ("model",),
    hidden: Iterable[str] = (),
    never_fill: Iterable[str] = (),
) -> Validated:
    """Check `body` against the input `schema`; raise `ArgumentError` listing every problem.

    Names in `skip` (the `model` the server adds itself) are neither required nor checked.
    `hidden` are the schema's hidden/disabled names (refused as not settable); a required
    name in `never_fill` is never filled with its default (a media parameter's default
    is a sample file, not the caller's). A schema without `properties` cannot judge
    names: only `required` is checked then.
    Every problem is collected in one pass, so one error lists them all.
    """
    skipped = set(skip)
    raw_props = schema.get("properties")
    properties: Mapping[str, Any] = raw_props if isinstance(raw_props, Mapping) else {}
    accepted = accepted_names(schema, skipped)
    problems: list[str] = []
    reported: set[str] = set()
    result = Validated(body={})
    for name, value in body.items():
        if name in skipped:
            result.body[name] = value
            continue
        prop = properties.get(name)
        if not isinstance(prop, Mapping):
            problem = _unknown(schema, properties, name, set(hidden), accepted)
            if problem is None:
                result.body[name] = value
            else:
                problems.append(problem)
            continue
        if value is None and not _accepts_null(prop):
            continue  # an unset optional argument: leave it out
        converted = _convert(prop, value)
        problem = check_value(prop, converted)
        if problem is not None:
            problems.append(f"'{name}' {problem}")
            reported.add(name)
        else:
            if converted is not value:
                result.converted.append(name)
            if isinstance(converted, str) and _unchecked_pattern(prop) is not None:
                result.unchecked.append(name)
            result.body[name] = converted
    required = _required(schema) - skipped
    problems += _fill_required(result, properties, required, accepted, reported, set(never_fill))
    if problems:
        raise ArgumentError(model, problems, accepted)
    for name, prop in properties.items():
        missing = name not in result.body and name not in skipped
        if missing and isinstance(prop, Mapping) and "default" in prop:
            result.defaults[name] = prop["default"]
    return result


def _unknown(
    schema: Mapping[str, Any],
    properties: Mapping[str, Any],
    name: str,
    hidden: set[str],
    accepted: list[str],
) -> str | None:
    """The problem with a name the schema does not declare, or None when it may pass."""
    if name in hidden:
        return f"'{name}' is set by Atlas itself and cannot be passed"
    if properties and not _open_to_extras(schema):
        return f"unknown parameter '{name}'{_suggest(name, accepted)}"
    return None


def _fill_required(
    result: Validated,
    properties: Mapping[str, Any],
    required: set[str],
    accepted: list[str],
    reported: set[str],
    unfilled: set[str],
) -> list[str]:
    """Fill each missing required name with its default (never those in `unfilled`):
    the problems of those that stay missing, in the schema's order."""
    problems: list[str] = []
    for name in [n for n in accepted if n in required] + sorted(required - set(accepted)):
        if result.body.get(name) is not None or name in reported:
            continue  # present, or already reported as invalid
        prop = properties.get(name)
        fillable = name not in unfilled and isinstance(prop, Mapping)
        if fillable and isinstance(prop, Mapping) and prop.get("default") not in (None, ""):
            result.body[name] = prop["default"]
            result.filled.append(name)
        else:
            described = _describe_prop(prop) if isinstance(prop, Mapping) else ""
            problems.append(f"missing required parameter '{name}'{described}")
    return problems


def _suggest(name: str, accepted: list[str]) -> str:
    lowered = name.lower().replace("-", "_")
    for candidate in accepted:
        if candidate.lower() == lowered or candidate.replace("_", "") == lowered.replace("_", ""):
            return f" (did you mean '{candidate}'?)"
    return ""


def _describe_prop(prop: Mapping[str, Any]) -> str:
    description = prop.get("description")
    if isinstance(description, str) and description.strip():
        text = " ".join(description.split())
        return f" ({text[:80]})"
    return ""


# -- conversions ---------------------------------------------------------------------


def _types(schema: Mapping[str, Any]) -> list[str]:
    raw = schema.get("type")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [str(t) for t in raw]
    return []


def _accepts_null(schema: Mapping[str, Any]) -> bool:
    return check_value(schema, None) is None and bool(
        _types(schema) or schema.get("anyOf") or schema.get("oneOf") or "enum" in schema
    )


def _convert(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` converted to the schema's type when it is plainly meant as it, else as is."""
    if check_value(schema, value) is None:
        return value
    for candidate in _candidates(schema, value):
        if check_value(schema, candidate) is None:
            return candidate
    return value


def _candidates(schema: Mapping[str, Any], value: Any) -> list[Any]:
    wanted = set(_types(schema))
    branches = [schema, *(o for k in ("anyOf", "oneOf") for o in schema.get(k) or [])]
    string_enum = False
    for option in branches:
        if isinstance(option, Mapping):
            wanted.update(_types(option))
            enum = option.get("enum")
            if isinstance(enum, list):
                wanted.update(_json_type(v) for v in enum)
                string_enum |= any(isinstance(v, str) for v in enum)
    out: list[Any] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if string_enum:  # 5 for "5" of an enum; a free text field gets no digits unasked
            out.append(_number_text(value))
        if "integer" in wanted and isinstance(value, float) and value.is_integer():
            out.append(int(value))
    elif isinstance(value, str):
        text = value.strip()
        if "integer" in wanted and re.fullmatch(r"[+-]?\d+", text):
            out.append(int(text))
        if "number" in wanted:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    out.append(int(number) if number.is_integer() else number)
        if "boolean" in wanted and text.lower() in ("true", "false"):
            out.append(text.lower() == "true")
    return out


def _number_text(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "object"
