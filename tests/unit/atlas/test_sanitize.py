"""`clean_answer` returns what the full walk (`clean_json` with `strip_controls` and the
redactor) returns, for any JSON text, however written; it skips the walk only when the
text shows nothing would change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_mcp_py.atlas.sanitize import (
    REDACTED,
    Redactor,
    clean_answer,
    clean_json,
    strip_controls,
)

SECRET = 'sk-live/abc"d'  # a key with characters JSON writes escaped
PLAIN = "sk-live-abcd1234"

# text that matters here: the keys, "bearer" words, controls, surrogates, bidi marks
pieces = st.sampled_from(
    [
        SECRET,
        PLAIN,
        "Bearer ",
        "BEARER\n",
        "bearer%20",
        "\x1b[2J",
        "\r",
        "\t",
        "\n",
        "\ud83d",
        "\u202e",
        "\x85",
        "/",
        '"',
        "\\",
        "é",
        "ok",
        "https://cdn.example/v.mp4?a=1&b=2",
    ]
)
texts = st.lists(pieces | st.text(max_size=8), max_size=6).map("".join)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def walked(value: Any, redactor: Redactor) -> Any:
    return clean_json(value, lambda text: redactor(strip_controls(text)))


def writings(value: Any) -> list[str]:
    """The ways a server may write `value`: ASCII-escaped, raw, `/` escaped too."""
    ascii_text = json.dumps(value)
    raw = json.dumps(value, ensure_ascii=False)
    return [ascii_text, raw, raw.replace("/", "\\/"), json.dumps(value, indent=1)]


@settings(max_examples=400, deadline=None)
@given(value=values, secret=st.sampled_from([SECRET, PLAIN, None]))
def test_clean_answer_equals_the_full_walk_however_the_json_is_written(
    value: Any, secret: str | None
) -> None:
    redactor = Redactor(secret)
    expected = walked(value, redactor)
    for text in writings(value):
        decoded = json.loads(text)
        assert clean_answer(text, decoded, redactor) == expected, text


@pytest.mark.parametrize(
    "text",
    [
        '{"msg": "bad key sk-live\\/abc\\"d"}',  # the key, written escaped
        '{"msg": "Authorization: BEARER sk-other-token"}',  # upper case
        '{"msg": "Bearer\\nsk-other-token"}',  # an escaped newline after Bearer
        '{"msg": "\\u0042earer sk-other-token"}',  # an escaped letter
        '{"msg": "half \\ud83d emoji"}',
        '{"msg": "\\u001b[2Jcleared"}',
        '{"msg": "line\\rforged OK"}',
    ],
)
def test_each_escape_that_hides_a_change_is_cleaned(text: str) -> None:
    redactor = Redactor(SECRET)
    cleaned = clean_answer(text, json.loads(text), redactor)
    assert cleaned == walked(json.loads(text), redactor)
    assert cleaned != json.loads(text)


def test_upper_case_bearer_tokens_are_redacted() -> None:
    assert Redactor(None)("Authorization: BEARER abcd1234") == f"Authorization: BEARER {REDACTED}"


def test_an_answer_with_nothing_to_clean_is_returned_as_decoded() -> None:
    text = json.dumps({"data": [{"id": f"vendor/model-{i}", "price": 0.1} for i in range(50)]})
    body = json.loads(text)
    assert clean_answer(text, body, Redactor(PLAIN)) is body  # not rebuilt
