"""Schema `pattern`s come from Atlas's catalog (issue 21, item 4): one like `^(a+)+$`
must not freeze the server. They run on RE2 (linear time); one RE2 cannot compile is
not judged here and is reported as unchecked, never hangs."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from atlas_mcp_py.errors import ArgumentError
from atlas_mcp_py.jobs.schema_check import validate_arguments
from atlas_mcp_py.jobs.value_check import check_value, unchecked_pattern

EVIL = {"type": "string", "pattern": "^(a+)+$"}
"""Exponential for a backtracking engine: 30 `a` and a `!` is 2^30 steps in `re`."""


def finishes(fn: Any, *args: Any) -> Any:
    """`fn(*args)` in a daemon thread; fails the test (instead of hanging it) when it has
    not returned within a minute, far beyond the microseconds it takes on RE2."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except Exception as exc:  # noqa: BLE001  # raised again in the test's thread
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert result, f"{fn.__name__} did not return: a backtracking regex engine ran"
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


def test_a_catastrophic_pattern_is_judged_without_backtracking() -> None:
    problem = finishes(check_value, EVIL, "a" * 30 + "!")
    assert problem is not None and "must match the pattern ^(a+)+$" in problem
    assert finishes(check_value, EVIL, "a" * 10_000) is None
    assert unchecked_pattern(EVIL) is None  # RE2 runs it: it is checked


def test_the_refusal_names_the_parameter_and_nothing_hangs() -> None:
    schema = {"type": "object", "properties": {"prompt": EVIL}}
    with pytest.raises(ArgumentError, match="'prompt' must match the pattern"):
        finishes(validate_arguments, schema, {"prompt": "a" * 40 + "!"})


@pytest.mark.parametrize("pattern", [r"^(a)\1$", r"^(?=x)x$", r"^[a-z]{1,5000}$"])
def test_a_pattern_re2_cannot_run_is_reported_unchecked_not_judged(pattern: str) -> None:
    prop = {"type": "string", "pattern": pattern}
    assert check_value(prop, "zzz!") is None  # Atlas judges it
    assert unchecked_pattern(prop) == pattern
    assert unchecked_pattern({"anyOf": [{"type": "null"}, prop]}) == pattern
    checked = validate_arguments({"type": "object", "properties": {"code": prop}}, {"code": "z"})
    assert checked.unchecked == ["code"]


def test_ordinary_patterns_keep_working() -> None:
    prop = {"type": "string", "pattern": r"^\d{1,3}:\d{1,3}$"}
    assert check_value(prop, "16:9") is None
    assert check_value(prop, "wide") is not None
    assert unchecked_pattern(prop) is None
