"""Image jobs' outputs: inline `data:` results, and telling an image job from a video one.

Some image models answer with the picture itself, `data:image/png;base64,...` (megabytes),
instead of a URL. That text must never reach the model's context nor the ledger:

- `decode_data_url` turns one into its bytes (checked to be an image, capped in size),
  which `downloads.save_bytes` writes like any download (confined, atomic);
- `stored_outputs` is what the ledger keeps of a job's outputs: each inline output
  replaced by a short `inline_marker` (its type and size), never the data;
- `has_inline` says a result still carries such data, which the server then decodes
  into `save_to` or, when none was given, a file in the first root.

MCP-agnostic; imports nothing of the package but `media`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote_to_bytes, urlsplit

from atlas_mcp_py.media import JPEG, PNG, WEBP, MediaFormat, sniff

__all__ = [
    "IMAGE_FORMATS",
    "INLINE_PREFIX",
    "InlineData",
    "InlineDataError",
    "JobKind",
    "decode_data_url",
    "has_inline",
    "inline_marker",
    "is_data_url",
    "is_inline_marker",
    "kind_of_outputs",
    "sniff_image",
    "stored_outputs",
]

JobKind = Literal["video", "image"]

IMAGE_FORMATS: tuple[MediaFormat, ...] = (PNG, JPEG, WEBP)
"""What image jobs produce and `save_to` keeps (by content, whatever the URL says)."""
INLINE_PREFIX = "(inline "
"""How an inline output is shown once its data is gone (see `inline_marker`)."""
_DATA_URL = re.compile(r"^data:([^,]*?),", re.IGNORECASE | re.DOTALL)
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
_VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".m4v", ".mkv"})


class InlineDataError(ValueError):
    """An inline output that is not a decodable image; the message says why."""


@dataclass(frozen=True)
class InlineData:
    """One decoded `data:` output."""

    content: bytes
    extension: str
    """What the bytes are: ".png", ".jpg" or ".webp"."""
    content_type: str


def is_data_url(value: str) -> bool:
    return value[:5].lower() == "data:"


def is_inline_marker(value: str) -> bool:
    return value.startswith(INLINE_PREFIX)


def has_inline(outputs: Iterable[str]) -> bool:
    """Does any output carry inline data (which must be decoded, never shown)?"""
    return any(is_data_url(output) for output in outputs)


def _declared(value: str) -> tuple[str, bool, int]:
    """(declared media type, base64?, offset of the payload) of a data URL."""
    match = _DATA_URL.match(value)
    if match is None:
        raise InlineDataError("the inline output is not a data: URL (no comma)")
    params = [p.strip().lower() for p in match.group(1).split(";")]
    return params[0] or "text/plain", "base64" in params[1:], match.end()


def inline_marker(value: str) -> str:
    """A data URL as the ledger and the result show it: its type and about how big."""
    try:
        media_type, encoded, start = _declared(value)
    except InlineDataError:
        media_type, encoded, start = "data", False, len(value)
    payload = len(value) - start
    size = payload * 3 // 4 if encoded else payload
    return f"{INLINE_PREFIX}{media_type} data, about {size} bytes: not kept)"


def stored_outputs(outputs: list[str]) -> list[str]:
    """The outputs as the ledger stores them: inline data replaced by its marker."""
    return [inline_marker(o) if is_data_url(o) else o for o in outputs]


def sniff_image(head: bytes) -> MediaFormat | None:
    """The image format `head` starts like (PNG, JPEG, WebP), or None."""
    found = sniff(head)
    return found if found in IMAGE_FORMATS else None


def decode_data_url(value: str, *, max_bytes: int) -> InlineData:
    """The image in a `data:` URL, or `InlineDataError` (not base64, too big, not an image).

    The format comes from the bytes, not from the declared type (which only has to be
    an image type, or absent)."""
    media_type, encoded, start = _declared(value)
    if not media_type.startswith("image/") and media_type not in (
        "application/octet-stream",
        "text/plain",
    ):
        raise InlineDataError(f"the inline output is {media_type}, not an image")
    payload = value[start:]
    if (len(payload) * 3 // 4 if encoded else len(payload)) > max_bytes:
        raise InlineDataError(
            f"the inline image is over the download limit of {max_bytes} bytes "
            "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
        )
    try:
        if encoded:
            content = base64.b64decode("".join(payload.split()), validate=True)
        else:
            content = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InlineDataError("the inline image is not valid base64") from None
    found = sniff_image(content[:64])
    if found is None:
        raise InlineDataError("the inline output's bytes are not a PNG, JPEG or WebP image")
    extension = found.default_extension
    return InlineData(content, extension, found.extensions[extension])


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
