"""Text that came from outside, made safe to log, store and return.

Two hazards, both in strings Atlas (or a proxy in front of it) sends back:

- **the API key echoed back**: an error message quoting the request's `Authorization`
  header, an output URL carrying it as a query parameter. `Redactor` blanks the key (as
  is, percent-encoded, or after any `Bearer`), so it never reaches a result, a log line or
  the ledger;
- **lone surrogates** (`"\\ud83d"`, half an emoji cut by a truncating server): valid in a
  JSON string escape, but not encodable as UTF-8, so SQLite and the stdio writer fail on
  them. `clean_text` replaces each with U+FFFD.

- **terminal controls** (`ESC [2J`, a carriage return, a right-to-left override): text
  that would clear a terminal, forge an "OK" line in `atlas-mcp doctor` or make
  `x.mp4` display as something else. `strip_controls` removes escape sequences, C0/C1
  control characters (tab and newline kept) and bidirectional embedding, override and
  isolate characters; `one_line` also folds newlines, for text shown as one line.

`clean_json` applies the first two to every string (keys and values) of a decoded JSON
body; `clean_answer` adds `strip_controls`, and is what every answer goes through before
anything else reads it. It looks at the answer's JSON text first: most answers (a 30 kB
catalog) have nothing to clean, and one scan of the text is ~5x cheaper than a walk
that rebuilds every object.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

__all__ = [
    "REDACTED",
    "Redactor",
    "clean_answer",
    "clean_json",
    "clean_text",
    "one_line",
    "strip_controls",
    "trim",
]

REDACTED = "[redacted]"


_SURROGATE = re.compile("[\ud800-\udfff]")


_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)([A-Za-z0-9._~+/=:-]{4,})")
_BEARER_WORD = re.compile("bearer", re.IGNORECASE)


MIN_SECRET_CHARS = 4
"""Shorter "keys" (test placeholders) are not searched for: they would blank common words."""


_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -~]?)"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
"""ANSI/VT escape sequences: CSI (`ESC [ ... final`, or C1 CSI), OSC (`ESC ] ... BEL`),
DCS/SOS/PM/APC strings, and two-character escapes."""


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls but tab and newline; bidirectional embeddings, overrides, isolates."""


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences, control characters (tab and newline
    kept) and bidirectional override characters."""
    if _CONTROL.search(text) is None:  # the usual case: one scan, no copy
        return text
    return _CONTROL.sub("", _ESCAPE.sub("", text))


def one_line(text: str, limit: int = 0) -> str:
    """`strip_controls(text)` on one line (runs of whitespace folded to one space),
    cut to `limit` characters when `limit` is set."""
    text = " ".join(strip_controls(text).split())
    return trim(text, limit) if limit else text


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (encodable as UTF-8)."""
    return _SURROGATE.sub("\ufffd", text)


_JSON_ESCAPED = '"\\/\n\t'
"""Characters a JSON text may write escaped (besides `\\u`, `\\b`, `\\f`, `\\r`)."""


_RISKY_ESCAPE = re.compile(r"\\[bfru]")
"""JSON escapes that may decode to a surrogate or a control character (any `\\u`; `\\n`
and `\\t` are kept by `strip_controls`). An escaped backslash before a `u` matches too:
a needless walk, never a missed one."""


_UNCLEAN = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What `clean_text` or `strip_controls` would change: `_SURROGATE` and `_CONTROL` as one."""


class Redactor:
    """Blanks one secret out of text: as is, percent-encoded, and any `Bearer <token>`."""

    def __init__(self, secret: str | None) -> None:
        forms: set[str] = set()
        if secret and len(secret) >= MIN_SECRET_CHARS:
            forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
        self._forms = sorted(forms, key=len, reverse=True)
        self._escaped = any(ch in form for form in self._forms for ch in _JSON_ESCAPED)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        if _BEARER_WORD.search(text) is not None:  # cheap pre-check before the regex
            text = _BEARER.sub(rf"\1\2{REDACTED}", text)
        return text

    def may_blank(self, json_text: str) -> bool:
        """Could this redactor change a string decoded from `json_text` (one with no
        `\\u` escape)? False means surely not; True, perhaps."""
        if _BEARER_WORD.search(json_text) is not None:
            return True  # `Bearer\\n<key>` decodes to a match the escaped text is not
        if self._escaped and "\\" in json_text:
            return True  # the secret has a character JSON may write escaped
        return any(form in json_text for form in self._forms)


def clean_json(value: Any, redact: Callable[[str], str] | None = None) -> Any:
    """A decoded JSON value with `clean_text` (and `redact`) applied to every string."""
    if isinstance(value, str):
        text = clean_text(value)
        return redact(text) if redact is not None else text
    if isinstance(value, dict):
        return {clean_json(k, redact): clean_json(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(item, redact) for item in value]
    return value


def clean_answer(json_text: str, value: Any, redactor: Redactor) -> Any:
    """`value`, decoded from `json_text`, with `clean_text`, `strip_controls` and
    `redactor` applied to every string: returned as is (no walk) when the text shows
    none of them would change anything."""
    if (
        _RISKY_ESCAPE.search(json_text) is None
        and _UNCLEAN.search(json_text) is None
        and not redactor.may_blank(json_text)
    ):
        return value
    return clean_json(value, lambda text: redactor(strip_controls(text)))


ERROR_CHARS = 500


def trim(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
