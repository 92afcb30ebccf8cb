"""Arguments checked against a model's input schema before anything is billed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_mcp_py.errors import ArgumentError
from atlas_mcp_py.jobs.schema_check import accepted_names, check_value, validate_arguments
from atlas_mcp_py.simulator.catalog import MODELS
from atlas_mcp_py.simulator.validation import ParameterError, validate_params

HAILUO: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "enum": ["minimax/hailuo-02/fast"]},
        "prompt": {"type": "string", "maxLength": 2000},
        "image": {"type": "string"},
        "duration": {"type": "integer", "enum": [6, 10], "default": 6},
        "resolution": {"type": "string", "enum": ["512P"], "default": "512P"},
        "enable_prompt_expansion": {"type": "boolean", "default": True},
    },
    "required": ["model", "prompt"],
    "x-order-properties": ["model", "prompt", "image", "duration", "resolution"],
}


def problems(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    with pytest.raises(ArgumentError) as caught:
        validate_arguments(schema, body, model="m")
    return caught.value.problems


def test_a_valid_body_passes_unchanged_and_lists_the_defaults_it_leaves_out() -> None:
    checked = validate_arguments(HAILUO, {"prompt": "a cat", "duration": 10})
    assert checked.body == {"prompt": "a cat", "duration": 10}
    assert checked.defaults == {
        "resolution": "512P",
        "enable_prompt_expansion": True,
    }
    assert checked.filled == [] and checked.converted == []


def test_an_unknown_name_is_named_with_a_suggestion_and_the_accepted_names() -> None:
    with pytest.raises(ArgumentError) as caught:
        validate_arguments(HAILUO, {"prompt": "x", "Duration": 6, "fps": 24}, model="hailuo")
    message = caught.value.message
    assert "unknown parameter 'Duration' (did you mean 'duration'?)" in message
    assert "unknown parameter 'fps'" in message
    assert "Accepted parameters: prompt, image, duration, resolution, " in message
    assert "enable_prompt_expansion" in message and "model" not in message.split("Accepted")[1]
    assert message.startswith("Invalid arguments for hailuo:")


def test_every_problem_is_reported_at_once() -> None:
    found = problems(HAILUO, {"duration": 7, "resolution": "4K", "image": 3})
    assert found == [
        "'duration' must be one of 6, 10, got 7",
        """'resolution' must be one of "512P", got "4K\"""",
        "'image' must be a string, got 3",
        "missing required parameter 'prompt'",
    ]


def test_a_missing_required_parameter_with_a_default_is_filled() -> None:
    schema = {**HAILUO, "required": ["model", "prompt", "duration"]}
    checked = validate_arguments(schema, {"prompt": "x"})
    assert checked.body == {"prompt": "x", "duration": 6}
    assert checked.filled == ["duration"]
    assert "duration" not in checked.defaults


def test_a_required_parameter_set_to_null_is_missing() -> None:
    assert problems(HAILUO, {"prompt": None}) == ["missing required parameter 'prompt'"]


def test_plainly_meant_values_are_converted_to_the_schema_type() -> None:
    kling_duration = {"type": "string", "enum": ["5", "10"]}
    schema = {
        "properties": {
            "duration": kling_duration,
            "seconds": {"type": "integer", "minimum": 1},
            "scale": {"type": "number"},
            "loud": {"type": "boolean"},
        }
    }
    checked = validate_arguments(schema, {"duration": 5, "seconds": "8", "scale": "0.5"})
    assert checked.body == {"duration": "5", "seconds": 8, "scale": 0.5}
    assert sorted(checked.converted) == ["duration", "scale", "seconds"]
    assert validate_arguments(schema, {"seconds": 6.0}).body == {"seconds": 6}
    assert validate_arguments(schema, {"loud": "true"}).body == {"loud": True}
    # but never into a value the schema refuses anyway
    assert problems(schema, {"duration": 7}) == ['\'duration\' must be one of "5", "10", got 7']
    assert problems(schema, {"seconds": "eight"}) == ["'seconds' must be an integer, got \"eight\""]


def test_booleans_and_numbers_are_kept_apart() -> None:
    assert check_value({"type": "integer"}, True) == "must be an integer, got true"
    assert check_value({"enum": [1, 2]}, True) == "must be one of 1, 2, got true"
    assert check_value({"type": "boolean"}, 1) == "must be a boolean, got 1"
    assert check_value({"enum": [6, 10]}, 6.0) is None


def test_ranges_lengths_patterns_and_items() -> None:
    assert check_value({"minimum": 5}, 4) == "must be at least 5, got 4"
    assert check_value({"maximum": 1}, 1.5) == "must be at most 1, got 1.5"
    assert check_value({"exclusiveMinimum": 0}, 0) == "must be greater than 0, got 0"
    assert check_value({"exclusiveMaximum": 1}, 1) == "must be less than 1, got 1"
    assert check_value({"multipleOf": 0.5}, 0.75) == "must be a multiple of 0.5, got 0.75"
    assert check_value({"minLength": 2}, "a") == "must be at least 2 characters, got 1"
    assert check_value({"pattern": "^[0-9]+:[0-9]+$"}, "16:9") is None
    assert check_value({"pattern": "^[0-9]+:[0-9]+$"}, "wide") is not None
    assert check_value({"pattern": "(?<!unsupported"}, "x") is None  # unreadable: no judgement
    items = {"type": "array", "items": {"type": "string"}, "maxItems": 2}
    assert check_value(items, ["a", 1]) == "item 1 must be a string, got 1"
    assert check_value(items, ["a", "b", "c"]) == "must have at most 2 items, got 3"
    assert check_value({"type": "number"}, float("nan")) == "must be a finite number, got nan"


def test_any_of_and_one_of_accept_any_branch_and_explain_every_one() -> None:
    seed = {"anyOf": [{"type": "integer", "minimum": -1}, {"type": "null"}]}
    assert check_value(seed, None) is None and check_value(seed, 7) is None
    assert check_value(seed, -2) == "must be at least -1, got -2; or must be null, got -2"
    size = {"oneOf": [{"type": "string", "enum": ["720p"]}, {"type": "integer"}]}
    assert check_value(size, 1080) is None
    assert (
        check_value(size, "4K")
        == 'must be one of "720p", got "4K"; or must be an integer, got "4K"'
    )
    both = {"allOf": [{"type": "integer"}, {"maximum": 10}]}
    assert check_value(both, 11) == "must be at most 10, got 11"
    body = validate_arguments({"properties": {"seed": seed}}, {"seed": None}).body
    assert body == {"seed": None}  # a branch accepts null: null is a value here


def test_schemas_that_cannot_judge_names_do_not_reject_them() -> None:
    assert validate_arguments({"type": "object"}, {"anything": 1}).body == {"anything": 1}
    open_schema = {"properties": {"a": {}}, "additionalProperties": True}
    assert validate_arguments(open_schema, {"b": 2}).body == {"b": 2}
    closed: dict[str, Any] = {"properties": {"a": {}}}
    assert problems(closed, {"b": 2}) == ["unknown parameter 'b'"]


def test_accepted_names_follow_the_published_order_required_first() -> None:
    schema = {
        "properties": {"b": {}, "a": {}, "model": {}, "c": {}},
        "required": ["c"],
        "x-order-properties": ["a", "b"],
    }
    assert accepted_names(schema, skip=("model",)) == ["c", "a", "b"]


# -- the OpenAPI 3.0 dialect the catalog serves, on top of jsonschema ----------------------


def test_nullable_admits_null_and_keeps_it_as_a_value() -> None:
    seed = {"type": "integer", "nullable": True}
    assert check_value(seed, None) is None
    assert check_value(seed, "x") == 'must be an integer, got "x"'
    assert validate_arguments({"properties": {"seed": seed}}, {"seed": None}).body == {"seed": None}
    # without `nullable`, a null optional argument means "unset" and is left out
    plain = {"properties": {"seed": {"type": "integer"}}}
    assert validate_arguments(plain, {"seed": None}).body == {}


def test_boolean_exclusive_bounds_make_minimum_and_maximum_strict() -> None:
    strength = {"type": "number", "minimum": 0, "maximum": 1}
    low = {**strength, "exclusiveMinimum": True}
    high = {**strength, "exclusiveMaximum": True}
    assert check_value(low, 0) == "must be greater than 0, got 0"
    assert check_value(high, 1) == "must be less than 1, got 1"
    assert check_value(low, 0.5) is None and check_value(high, 0.5) is None
    assert check_value({**strength, "exclusiveMinimum": False}, 0) is None
    assert check_value(low, 1.5) == "must be at most 1, got 1.5"


def test_extensions_formats_and_refs_are_not_judged() -> None:
    image = {"type": "string", "format": "uri", "x-accept": "image/png"}
    assert check_value(image, "photo.png") is None  # a local path, uploaded later
    assert check_value(image, 3) == "must be a string, got 3"
    ref = {"$ref": "#/components/schemas/Resolution", "type": "string"}
    assert check_value(ref, "720p") is None  # points outside the schema we have
    assert check_value(ref, 720) == "must be a string, got 720"


def test_keywords_that_cannot_be_read_do_not_break_validation() -> None:
    for schema in (
        {"minimum": "5"},
        {"maxLength": "5"},
        {"type": "strin"},
        {"anyOf": {"type": "string"}},
        {"items": [{"type": "string"}]},
    ):
        assert check_value(schema, 4) is None, schema
        assert check_value(schema, [1]) is None, schema
    # the keywords beside an unreadable one still count
    tuple_items = {"type": "array", "items": [{"type": "string"}]}
    assert check_value(tuple_items, [1]) is None
    assert check_value(tuple_items, 4) == "must be an array, got 4"


def test_a_value_two_one_of_forms_accept_is_not_refused() -> None:
    assert check_value({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 5) is None


def test_messages_show_numbers_exactly_and_never_echo_long_values() -> None:
    seed = {"type": "integer", "maximum": 2147483647}
    assert check_value(seed, 3000000000) == "must be at most 2147483647, got 3000000000"
    found = problems(HAILUO, {"prompt": "x" * 5000, "resolution": "y" * 5000})
    assert found[0] == "'prompt' must be at most 2000 characters, got 5000"
    assert found[1].startswith('\'resolution\' must be one of "512P", got "yyy')
    assert len(found[1]) < 120


def test_nested_values_are_named_by_their_place() -> None:
    frames = {"type": "array", "items": {"type": "object", "properties": {"at": {"minimum": 0}}}}
    assert (
        check_value(frames, [{"at": 1}, {"at": -1}])
        == "item 1 field 'at' must be at least 0, got -1"
    )
    assert check_value({"type": "array", "items": {"type": "number"}}, [1, float("inf")]) == (
        "must hold finite numbers only, got [1, Infinity]"
    )


# -- agreement with a strict API: the simulator's own validator --------------------------

SCHEMAS = [spec.input_schema() for spec in MODELS]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.sampled_from([6.0, 0.5, 2.5, 1e9]),
    st.sampled_from(["", "5", "10", "512P", "720p", "16:9", "true", "x" * 2600, "a cat"]),
    st.lists(st.integers(0, 2), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    schema=st.sampled_from(SCHEMAS),
    picks=st.dictionaries(
        st.sampled_from(["prompt", "image", "duration", "resolution", "seed", "fps", "text"]),
        VALUES,
        max_size=4,
    ),
)
def test_refused_here_exactly_when_a_strict_api_would_refuse(
    schema: dict[str, Any], picks: dict[str, Any]
) -> None:
    """What passes here (after conversions and filled defaults) the API accepts; what is
    refused here, the API refuses too: no money is spent on a doomed request, and no
    good request is blocked."""
    try:
        checked = validate_arguments(schema, picks)
    except ArgumentError:
        with pytest.raises(ParameterError):
            validate_params(schema, picks, skip=SKIP)
        return
    validate_params(schema, checked.body, skip=SKIP)  # raises if the API would refuse it


SKIP = frozenset({"model"})


def test_the_strict_api_refuses_integral_floats_and_names_long_values_briefly() -> None:
    schema = next(s for s in SCHEMAS if "seed" in s["properties"])
    body = {"image": "u", "duration": 6.0}
    with pytest.raises(ParameterError, match="'duration'"):
        validate_params(schema, body, skip=SKIP)
    with pytest.raises(ParameterError) as caught:
        validate_params(schema, {"image": "u", "prompt": "x" * 2600}, skip=SKIP)
    assert caught.value.message == "Invalid parameter 'prompt': does not satisfy maxLength 2000."
    assert validate_arguments(schema, body).body == {"image": "u", "duration": 6}
