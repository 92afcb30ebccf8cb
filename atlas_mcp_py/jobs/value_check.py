"""One JSON value judged against its JSON Schema, and the verdict worded for a person.

`jsonschema` judges by Draft 2020-12 (the catalog's `anyOf: [..., {"type": "null"}]` is
written in it) with the OpenAPI 3.0 ways of the documents Atlas serves: `nullable: true`
admits null; a boolean `exclusiveMinimum`/`exclusiveMaximum` makes `minimum`/`maximum`
strict; an `integer` is a JSON integer (`6.0` is not one); `oneOf` accepts a value any of
its forms accepts. `x-*` extensions and `format` are not judged, nor is `$ref` (it points
into the document around the schema), nor a keyword spelled in a way that cannot be read
(a bound that is not a number): Atlas will judge those.

A `pattern` comes from Atlas's catalog, so it is not trusted: Python's `re` backtracks,
and `^(a+)+$` against 30 `a` and a `!` would hold the event loop for minutes. Patterns
run on RE2 (`google-re2`: linear time, no backtracking); one RE2 cannot compile
(backreferences, lookaround, a repetition over 1000) is not judged here, and
`unchecked_pattern` tells the caller so.

The words are ours: "must be one of 6, 10, got 7", naming the place inside the value
("item 1 ..."), explaining every form of an `anyOf`, and never echoing a long value.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import re2  # type: ignore[import-untyped]  # google-re2 ships no stubs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import UnknownType, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

__all__ = ["check_value", "unchecked_pattern"]

_TYPE_NAMES: Final[dict[str, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}

_Schema = Mapping[str, Any]
_Errors = Iterator[ValidationError]
_Keyword = Callable[[Any, Any, Any, _Schema], _Errors]  # (validator, rule, value, schema)
_BASE: Final = Draft202012Validator
_FLAGGED: Final = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


def _nullable_type(validator: Any, types: Any, instance: Any, schema: _Schema) -> _Errors:
    if instance is not None or schema.get("nullable") is not True:
        yield from _BASE.VALIDATORS["type"](validator, types, instance, schema)


def _exclusive(keyword: str) -> _Keyword:
    """`exclusiveMinimum: 0` (JSON Schema) or `exclusiveMinimum: true` (OpenAPI 3.0)."""
    plain: _Keyword = _BASE.VALIDATORS[keyword]
    bound = _FLAGGED[keyword]

    def check(validator: Any, flag: Any, instance: Any, schema: _Schema) -> _Errors:
        if not isinstance(flag, bool):
            yield from plain(validator, flag, instance, schema)
        elif flag and validator.is_type(instance, "number") and instance == schema.get(bound):
            yield ValidationError(f"{instance!r} equals the exclusive {bound}")

    return check


def _unjudged(validator: Any, rule: Any, instance: Any, schema: _Schema) -> _Errors:
    return iter(())


def _lenient(keyword: _Keyword) -> _Keyword:
    """A keyword the schema spells in a way that cannot be read is not judged."""

    def check(validator: Any, rule: Any, instance: Any, schema: _Schema) -> _Errors:
        try:
            yield from keyword(validator, rule, instance, schema)
        except (TypeError, AttributeError, re.error, UnknownType):
            return

    return check


_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False  # an uncompilable pattern is reported, not logged by RE2


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any | None:
    """`pattern` compiled by RE2, or None when RE2 cannot take it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except (re2.error, TypeError, ValueError):
        return None


def _pattern(validator: Any, pattern: Any, instance: Any, schema: _Schema) -> _Errors:
    """`pattern` in linear time (RE2); a pattern RE2 cannot compile is not judged."""
    if not isinstance(instance, str) or not isinstance(pattern, str):
        return
    compiled = _compiled(pattern)
    if compiled is not None and compiled.search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def unchecked_pattern(schema: Mapping[str, Any]) -> str | None:
    """The `pattern` of `schema` (or of its `anyOf`/`oneOf`/`allOf` forms, its `items`)
    that this module cannot judge in bounded time, or None."""
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _compiled(pattern) is None:
        return pattern
    forms = [f for k in ("anyOf", "oneOf", "allOf") for f in schema.get(k) or ()]
    items = schema.get("items")
    for form in [*forms, items] if isinstance(items, Mapping) else forms:
        found = unchecked_pattern(form) if isinstance(form, Mapping) else None
        if found is not None:
            return found
    return None


def _json_integer(checker: object, value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KEYWORDS: Final[dict[str, _Keyword]] = {
    **_BASE.VALIDATORS,
    "type": _nullable_type,
    "oneOf": _BASE.VALIDATORS["anyOf"],  # two forms accepting a value do not refuse it
    "exclusiveMinimum": _exclusive("exclusiveMinimum"),
    "exclusiveMaximum": _exclusive("exclusiveMaximum"),
    "$ref": _unjudged,
    "$dynamicRef": _unjudged,
    "pattern": _pattern,
}
_Checker: Final[type[Validator]] = extend(  # type: ignore[no-untyped-call]  # stubs: untyped
    _BASE,
    validators={name: _lenient(check) for name, check in _KEYWORDS.items()},
    type_checker=_BASE.TYPE_CHECKER.redefine("integer", _json_integer),
)
# Reported first, as they say the most: the forms a value may take, then the allowed values.
_FIRST: Final = ("anyOf", "oneOf", "allOf", "enum", "type", "const")
_LIMITS: Final = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
    "minLength": "at least",
    "maxLength": "at most",
    "minItems": "at least",
    "maxItems": "at most",
}


def check_value(schema: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with the JSON `value` under `schema` ("must be ..."), or None if valid."""
    errors: list[ValidationError] = list(_Checker(schema).iter_errors(value))
    if errors:
        return _word(_pick(errors))
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if not _finite(value):
        return f"must hold finite numbers only, got {_show(value)}"
    return None


def _finite(value: object) -> bool:
    """JSON has no NaN or infinity: a strict API refuses them anywhere in a value."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return all(_finite(v) for v in value) if isinstance(value, list) else True


def _pick(errors: Iterable[ValidationError]) -> ValidationError:
    """The error to report: the outermost, and of those the one that says the most."""

    def rank(error: ValidationError) -> tuple[int, ...]:
        where = [k if isinstance(k, int) else _order(k) for k in error.relative_schema_path]
        return len(error.relative_path), *where

    return min(errors, key=rank)


def _order(keyword: str) -> int:
    return _FIRST.index(keyword) if keyword in _FIRST else len(_FIRST)


def _word(error: ValidationError) -> str:
    where = [f"item {p}" if isinstance(p, int) else f"field '{p}'" for p in error.relative_path]
    return " ".join([*where, _rule(error)])


def _rule(error: ValidationError) -> str:
    keyword = str(error.validator)
    rule: Any = error.validator_value  # always set on errors from iter_errors
    got: Any = error.instance
    if keyword in ("anyOf", "oneOf"):
        branches: dict[str | int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return "; or ".join(dict.fromkeys(_word(_pick(b)) for b in branches.values()))
    if keyword == "enum":
        return f"must be one of {', '.join(_show(v) for v in rule)}, got {_show(got)}"
    if keyword == "const":
        return f"must be {_show(rule)}, got {_show(got)}"
    if keyword == "type":
        types = rule if isinstance(rule, list) else [rule]
        wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
        return f"must be {wanted}, got {_show(got)}"
    words = _LIMITS.get(keyword)
    if words is not None:
        if isinstance(rule, bool) and isinstance(error.schema, Mapping):  # OpenAPI 3.0
            rule = error.schema[_FLAGGED[keyword]]
        if keyword.endswith("Length"):
            return f"must be {words} {rule} characters, got {len(got)}"
        if keyword.endswith("Items"):
            return f"must have {words} {rule} items, got {len(got)}"
        return f"must be {words} {_number(rule)}, got {_number(got)}"
    if keyword == "multipleOf":
        return f"must be a multiple of {_number(rule)}, got {_number(got)}"
    if keyword == "pattern":
        return f"must match the pattern {rule}, got {_show(got)}"
    return f"is refused by the schema's {keyword} rule ({_show(rule)})"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
