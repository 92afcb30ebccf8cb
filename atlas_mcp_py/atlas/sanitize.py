"""Text that came from outside, made safe to log, store and return.

Two hazards, both in strings Atlas (or a proxy in front of it) sends back:

- **the API key echoed back**: an error message quoting the request's `Authorization`
  header, an output URL carrying it as a query parameter. `Redactor` blanks the key (as
  is, percent-encoded, or after any `Bearer`), so it never reaches a result, a log line or
  the ledger;
- **lone surrogates** (`"\\ud83d"`, half an emoji cut by a truncating server): valid in a
  JSON string escape, but not encodable as UTF-8, so SQLite and the stdio writer fail on
  them. `clean_text` replaces each with U+FFFD.

`clean_json` applies both to every string (keys and values) of a decoded JSON body: the
client runs every answer through it before anything else reads it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

__all__ = [
    "REDACTED",
    "Redactor",
    "clean_json",
    "clean_text",
    "trim",
]

REDACTED = "[redacted]"


_SURROGATE = re.compile("[\ud800-\udfff]")


_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)([A-Za-z0-9._~+/=:-]{4,})")


MIN_SECRET_CHARS = 4
"""Shorter "keys" (test placeholders) are not searched for: they would blank common words."""


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (encodable as UTF-8)."""
    return _SURROGATE.sub("\ufffd", text)


class Redactor:
    """Blanks one secret out of text: as is, percent-encoded, and any `Bearer <token>`."""

    def __init__(self, secret: str | None) -> None:
        forms: set[str] = set()
        if secret and len(secret) >= MIN_SECRET_CHARS:
            forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        if "earer" in text:  # cheap pre-check before the regex
            text = _BEARER.sub(rf"\1\2{REDACTED}", text)
        return text


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


ERROR_CHARS = 500


def trim(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
