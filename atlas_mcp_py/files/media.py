"""Media formats recognised by their leading bytes, and checked against the file name.

An extension is a claim; the leading bytes are evidence. A file is accepted for upload only
when its bytes match a format Atlas consumes (images, videos, audio) and its extension
names that same format: a PEM key renamed `cat.jpg` starts with `-----BEGIN` and matches
nothing, and a PNG named `photo.jpg` is refused with the right extension named.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import unquote_to_bytes

from atlas_mcp_py.atlas import declared_type
from atlas_mcp_py.errors import InlineDataError, MediaMismatch

__all__ = [
    "FORMATS",
    "HEAD_BYTES",
    "IMAGE_FORMATS",
    "InlineData",
    "MediaFormat",
    "decode_data_url",
    "describe_head",
    "media_type_for",
    "sniff",
    "sniff_image",
    "sniff_video",
]

HEAD_BYTES = 64
"""How many leading bytes `sniff` looks at (it needs at most 16)."""


@dataclass(frozen=True)
class MediaFormat:
    """A family of files recognised by the same leading bytes."""

    name: str
    kind: str
    """image, video or audio."""
    extensions: dict[str, str]
    """Allowed extensions (lower case, with the dot) -> the content type sent for each."""

    @property
    def default_extension(self) -> str:
        return next(iter(self.extensions))


PNG = MediaFormat("PNG image", "image", {".png": "image/png"})


JPEG = MediaFormat(
    "JPEG image", "image", {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg"}
)


GIF = MediaFormat("GIF image", "image", {".gif": "image/gif"})


WEBP = MediaFormat("WebP image", "image", {".webp": "image/webp"})


BMP = MediaFormat("BMP image", "image", {".bmp": "image/bmp"})


MP4 = MediaFormat(
    "MP4/QuickTime video",
    "video",
    {
        ".mp4": "video/mp4",
        ".m4v": "video/mp4",
        ".mov": "video/quicktime",
        ".m4a": "audio/mp4",
    },
)


QUICKTIME = MediaFormat(
    "QuickTime video", "video", {".mov": "video/quicktime", ".mp4": "video/mp4"}
)


MATROSKA = MediaFormat(
    "WebM/Matroska video", "video", {".webm": "video/webm", ".mkv": "video/x-matroska"}
)


AVI = MediaFormat("AVI video", "video", {".avi": "video/x-msvideo"})


M4A = MediaFormat("M4A audio", "audio", {".m4a": "audio/mp4", ".mp4": "audio/mp4"})


MP3 = MediaFormat("MP3 audio", "audio", {".mp3": "audio/mpeg"})


AAC = MediaFormat("AAC audio", "audio", {".aac": "audio/aac"})


ID3 = MediaFormat("MP3/AAC audio (ID3 tag)", "audio", {".mp3": "audio/mpeg", ".aac": "audio/aac"})


WAV = MediaFormat("WAV audio", "audio", {".wav": "audio/wav"})


OGG = MediaFormat(
    "Ogg audio", "audio", {".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg"}
)


FLAC = MediaFormat("FLAC audio", "audio", {".flac": "audio/flac"})

FORMATS = (
    PNG,
    JPEG,
    GIF,
    WEBP,
    BMP,
    MP4,
    QUICKTIME,
    MATROSKA,
    AVI,
    M4A,
    MP3,
    AAC,
    ID3,
    WAV,
    OGG,
    FLAC,
)

_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})


def sniff(head: bytes) -> MediaFormat | None:
    """The media format `head` (a file's first bytes) starts like, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}.get(head[8:12])
    if head.startswith(b"BM") and len(head) >= 18 and _is_bmp(head):
        return BMP
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return M4A if head[8:12] in _AUDIO_BRANDS else MP4
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return QUICKTIME
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MATROSKA
    if head.startswith(b"ID3"):
        return ID3
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"fLaC"):
        return FLAC
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0b11
        if layer == 0 and head[1] & 0xF6 == 0xF0:
            return AAC  # ADTS
        if layer != 0 and (head[1] >> 3) & 0b11 != 0b01:  # MPEG audio, valid version
            return MP3
    return None


def _is_bmp(head: bytes) -> bool:
    reserved = head[6:10]
    dib_size = int.from_bytes(head[14:18], "little")
    return reserved == b"\x00\x00\x00\x00" and dib_size in _BMP_DIB_SIZES


def sniff_video(head: bytes) -> str | None:
    """The extension a downloaded video should carry (".mp4" or ".webm"), or None."""
    fmt = sniff(head)
    if fmt is MP4 or fmt is QUICKTIME:
        return ".mp4"
    if fmt is MATROSKA:
        return ".webm"
    return None


def describe_head(head: bytes) -> str:
    """A few words on what unrecognised leading bytes look like (never the bytes)."""
    if not head:
        return "it is empty"
    stripped = head.lstrip()
    lowered = stripped[:16].lower()
    if stripped.startswith(b"-----BEGIN"):
        return "it starts like a PEM key or certificate"
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "it starts like an HTML page"
    if stripped.startswith((b"{", b"[")):
        return "it starts like JSON text"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:32]):
        return "it starts like plain text"
    return "its leading bytes match no image, video or audio format"


def media_type_for(name: str, head: bytes) -> tuple[MediaFormat, str]:
    """The format and content type of a file called `name` starting with `head`.

    Raises `MediaMismatch` (with a message naming the problem and the fix) when the
    content is not a known media format or the extension does not name it.
    """
    suffix = PurePath(name).suffix.lower()
    fmt = sniff(head)
    if fmt is None:
        raise MediaMismatch(
            "the content is not an image, video or audio file Atlas accepts "
            f"({describe_head(head)})"
        )
    if suffix not in fmt.extensions:
        allowed = ", ".join(fmt.extensions)
        said = f"its extension {suffix!r}" if suffix else "it has no extension"
        raise MediaMismatch(
            f"the content is a {fmt.name} but {said} does not match; rename it to one of: {allowed}"
        )
    return fmt, fmt.extensions[suffix]


IMAGE_FORMATS: tuple[MediaFormat, ...] = (PNG, JPEG, WEBP)
"""What image jobs produce and `save_to` keeps (by content, whatever the URL says)."""


@dataclass(frozen=True)
class InlineData:
    """One decoded `data:` output."""

    content: bytes
    extension: str
    """What the bytes are: ".png", ".jpg" or ".webp"."""
    content_type: str


def sniff_image(head: bytes) -> MediaFormat | None:
    """The image format `head` starts like (PNG, JPEG, WebP), or None."""
    found = sniff(head)
    return found if found in IMAGE_FORMATS else None


def decode_data_url(value: str, *, max_bytes: int) -> InlineData:
    """The image in a `data:` URL, or `InlineDataError` (not base64, too big, not an image).

    The format comes from the bytes, not from the declared type (which only has to be
    an image type, or absent)."""
    media_type, encoded, start = declared_type(value)
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
