"""Media parameters judged the way Atlas judges them: by what the file is, not its name.

A media property carries `x-accept` (MIME types, e.g. "image/jpeg,image/png") and maybe
`x-max-size-mb`. Each value is an http(s) URL or a `data:<mime>;base64,...` URL. A file
uploaded to this simulator (or one of its outputs) is sniffed from its bytes; a data URL from
its decoded bytes (else its declared type); any other URL from its extension (an URL without
one passes: the real API would fetch it and we cannot).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from .validation import ParameterError

JsonObject = dict[str, Any]

UPLOAD_PATH: Final = re.compile(r"^/files/uploads/([^/]+)/([^/]+)$")
_MAGIC: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftypM4A", "audio/mp4"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
)
_ALIASES: Final = {"image/jpg": "image/jpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav"}

UploadLookup = Callable[[str, str], Path | None]
"""(upload id, file name) -> the stored file, or None."""


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file show, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None


def _normal(mime: str | None) -> str | None:
    if mime is None:
        return None
    mime = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(mime, mime)


def _from_name(name: str) -> str | None:
    return _normal(mimetypes.guess_type(name)[0]) if PurePosixPath(name).suffix else None


def describe(value: str, find_upload: UploadLookup) -> tuple[str | None, int | None]:
    """(MIME type, size in bytes) of a media value, each None when it cannot be told.

    Raises ParameterError (without the parameter name) for a value that is neither an
    http(s) URL nor a base64 data URL.
    """
    if value.startswith("data:"):
        header, comma, payload = value[5:].partition(",")
        if not comma or not header.endswith(";base64"):
            raise ParameterError("a data URL must be data:<mime>;base64,<data>")
        try:
            raw = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ParameterError("the data URL is not valid base64") from exc
        return sniff(raw[:16]) or _normal(header[: -len(";base64")]), len(raw)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError("expected an http(s) URL or a data:<mime>;base64 URL")
    path = unquote(parts.path)
    match = UPLOAD_PATH.match(path)
    if match:
        stored = find_upload(match.group(1), match.group(2))
        if stored is not None and stored.is_file():
            with stored.open("rb") as handle:
                head = handle.read(16)
            return sniff(head) or _from_name(stored.name), stored.stat().st_size
    return _from_name(path), None


def _accepted(mime: str, accept: str) -> bool:
    for item in accept.split(","):
        wanted = _normal(item) or ""
        if wanted == mime or (wanted.endswith("/*") and mime.startswith(wanted[:-1])):
            return True
    return False


def check_media(schema: JsonObject, params: JsonObject, find_upload: UploadLookup) -> None:
    """Raise ParameterError for a media value in a format or size the model does not take."""
    properties: JsonObject = schema.get("properties", {})
    for name, value in params.items():
        prop = properties.get(name)
        if not isinstance(prop, dict) or "x-accept" not in prop:
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not isinstance(item, str) or not item:
                continue  # the JSON Schema check has judged the type already
            _check_one(name, item, prop, find_upload)


def _check_one(name: str, value: str, prop: JsonObject, find_upload: UploadLookup) -> None:
    accept: str = prop["x-accept"]
    try:
        mime, size = describe(value, find_upload)
    except ParameterError as exc:
        raise ParameterError(f"Invalid parameter '{name}': {exc.message}.") from None
    if mime is not None and not _accepted(mime, accept):
        kinds = ", ".join(item.strip().split("/")[-1].upper() for item in accept.split(","))
        raise ParameterError(
            f"Invalid parameter '{name}': {mime} is not supported; this model accepts "
            f"{kinds} ({accept})."
        )
    limit = prop.get("x-max-size-mb")
    if size is not None and isinstance(limit, int | float) and size > limit * 1024 * 1024:
        raise ParameterError(
            f"Invalid parameter '{name}': the file is {size / 1024 / 1024:.1f} MB; this model "
            f"takes at most {limit:g} MB."
        )
