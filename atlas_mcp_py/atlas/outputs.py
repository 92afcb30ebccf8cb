"""A job's outputs as Atlas returns them: URLs, inline data: images (also raw base64
with no `data:` prefix, which `as_output` turns into a data URL), their kind."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

from atlas_mcp_py.errors import InlineDataError

__all__ = [
    "INLINE_PREFIX",
    "JobKind",
    "as_output",
    "has_inline",
    "inline_marker",
    "is_data_url",
    "is_inline_marker",
    "kind_of_outputs",
    "stored_outputs",
]

JobKind = Literal["video", "image"]


INLINE_PREFIX = "(inline "
"""How an inline output is shown once its data is gone (see `inline_marker`)."""


_DATA_URL = re.compile(r"^data:([^,]*?),", re.IGNORECASE | re.DOTALL)


_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})


_VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".m4v", ".mkv"})


_BASE64_HEAD = re.compile(r"[A-Za-z0-9+/]{16,}")
_LINK = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # base64 has no ':'
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+=*\s*")
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)
RAW_BASE64_MIN_CHARS = 64
"""A shorter string is never taken for inline image data (a file name, an id, a word)."""
RAW_BASE64_UNKNOWN_CHARS = 1024
"""Base64 of no known image type is taken for inline data from this length on."""


def _raw_base64_type(value: str) -> str | None:
    """The media type of a raw base64 payload (no `data:` prefix), judged by the magic
    bytes of its start; `application/octet-stream` when it is base64 but not a known
    image; None when it is not base64 at all."""
    head = "".join(value[:256].split())[:64]
    if len(value) < RAW_BASE64_MIN_CHARS or _BASE64_HEAD.fullmatch(head) is None:
        return None
    try:
        start = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return None
    for magic, offset, media_type in _MAGIC:
        if start[offset : offset + len(magic)] == magic:
            return media_type
    if len(value) >= RAW_BASE64_UNKNOWN_CHARS and _BASE64.fullmatch(value) is not None:
        return "application/octet-stream"
    return None


def as_output(value: str) -> str:
    """An output string as this client handles it: a raw base64 image (Atlas's image
    models may answer one with no `data:` prefix) becomes a `data:` URL, so that it is
    decoded and saved, never taken for a link; anything else unchanged."""
    stripped = value.strip()
    if _LINK.match(stripped):
        return value
    media_type = _raw_base64_type(stripped)
    if media_type is None:
        return value
    return f"data:{media_type};base64,{stripped}"


def is_data_url(value: str) -> bool:
    return value[:5].lower() == "data:"


def is_inline_marker(value: str) -> bool:
    return value.startswith(INLINE_PREFIX)


def has_inline(outputs: Iterable[str]) -> bool:
    """Does any output carry inline data (which must be decoded, never shown)?"""
    return any(is_data_url(output) for output in outputs)


def declared_type(value: str) -> tuple[str, bool, int]:
    """(declared media type, base64?, offset of the payload) of a data URL."""
    match = _DATA_URL.match(value)
    if match is None:
        raise InlineDataError("the inline output is not a data: URL (no comma)")
    params = [p.strip().lower() for p in match.group(1).split(";")]
    return params[0] or "text/plain", "base64" in params[1:], match.end()


def inline_marker(value: str) -> str:
    """A data URL as the ledger and the result show it: its type and about how big."""
    try:
        media_type, encoded, start = declared_type(value)
    except InlineDataError:
        media_type, encoded, start = "data", False, len(value)
    payload = len(value) - start
    size = payload * 3 // 4 if encoded else payload
    return f"{INLINE_PREFIX}{media_type} data, about {size} bytes: not kept)"


def stored_outputs(outputs: list[str]) -> list[str]:
    """The outputs as the ledger stores them: inline data replaced by its marker."""
    return [inline_marker(o) if is_data_url(o) else o for o in outputs]


def kind_of_outputs(outputs: Iterable[str]) -> JobKind | None:
    """What a job made, judged by its outputs alone (inline images, file suffixes)."""
    for output in outputs:
        if is_data_url(output):
            return "image" if output[5:11].lower() == "image/" else None
        if is_inline_marker(output):
            return "image" if output[len(INLINE_PREFIX) :].startswith("image/") else None
        suffix = PurePosixPath(urlsplit(output).path).suffix.lower()
        if suffix in _IMAGE_SUFFIXES:
            return "image"
        if suffix in _VIDEO_SUFFIXES:
            return "video"
    return None
