"""Request validation against a model's input JSON Schema, the way a strict API does it.

`jsonschema` judges each value (Draft 2020-12; an `integer` is a JSON integer, so `6.0`
is refused, as a typed backend would). Every message names the parameter at fault and
never echoes a long value.
"""

from __future__ import annotations

import json
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend

JsonObject = dict[str, Any]

_STRICT: Final[type[Validator]] = extend(  # type: ignore[no-untyped-call]  # stubs: untyped
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


class ParameterError(ValueError):
    """A request parameter is missing, unknown, or has a bad value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def validate_params(schema: JsonObject, params: JsonObject, *, skip: frozenset[str]) -> None:
    """Raise ParameterError unless `params` satisfies `schema` (names in `skip` are ignored).

    `schema` is resolved (no `$ref`s). A property marked `hidden` or `disabled` is refused
    like an unknown one: the real API does not take what its console does not offer.
    """
    properties: JsonObject = schema.get("properties", {})
    offered = {
        name
        for name, prop in properties.items()
        if not (isinstance(prop, dict) and (prop.get("hidden") or prop.get("disabled")))
    }
    for name in params:
        if name in skip:
            continue
        if name not in offered:
            known = ", ".join(sorted(offered - skip))
            what = "Unknown" if name not in properties else "Unsupported"
            raise ParameterError(f"{what} parameter '{name}'. Accepted parameters: {known}.")
    for name in schema.get("required", []):
        if name not in skip and params.get(name) is None:
            raise ParameterError(f"Missing required parameter '{name}'.")
    for name, value in params.items():
        if name in skip:
            continue
        error = best_match(_STRICT(properties[name]).iter_errors(value))
        if error is not None:
            raise ParameterError(f"Invalid parameter '{name}': {_describe(error)}.")


def _describe(error: ValidationError) -> str:
    """The library's message (`7 is not one of [6, 10]`), unless it echoes a long value."""
    if len(error.message) <= 160:
        return error.message
    rule = json.dumps(error.validator_value)
    return f"does not satisfy {error.validator} {rule if len(rule) <= 120 else rule[:117] + '...'}"
