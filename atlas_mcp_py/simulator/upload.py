"""`POST /api/v1/model/uploadMedia`: a streamed multipart upload straight to disk.

The body is parsed as it arrives (python-multipart's push parser); the `file` part is hashed
and written to the state's upload directory in ~1 MiB batches, so a large upload never sits
in memory. Size is enforced twice: Content-Length up front, then the real byte count.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import Response

from .responses import base_url, error, is_authorized, ok, sim_state, unauthorized
from .state import UploadRecord

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD: Final = 64 * 1024  # slack for boundaries and part headers
WRITE_BATCH: Final = 1024 * 1024
MEDIA_KINDS: Final[dict[str, str]] = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"), "image"),
    **dict.fromkeys((".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"), "video"),
    **dict.fromkeys((".mp3", ".wav", ".m4a", ".aac", ".ogg", ".flac"), "audio"),
}


class _FilePart:
    """Parser callbacks that keep the first part named `file` and ignore the others."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.filename: str | None = None
        self.content_type: str | None = None
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.pending = bytearray()
        self.too_large = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and self.filename is None:
            raw_name = options.get(b"filename", b"")
            self.filename = safe_filename(raw_name.decode("utf-8", errors="replace"))
            content_type = self._headers.get(b"content-type", b"").decode("latin-1")
            self.content_type = content_type or None
            self._in_file = True

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file or self.too_large:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            self.too_large = True
            self.pending.clear()
            return
        self.sha256.update(chunk)
        self.pending += chunk

    def _on_part_end(self) -> None:
        self._in_file = False


def safe_filename(name: str) -> str:
    """A file name safe to put in a path and a URL, keeping the extension."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[-200:]
    return base or "upload.bin"


def media_kind(filename: str) -> str:
    """The API's `type` for a file: image, video, audio or file, from its extension."""
    return MEDIA_KINDS.get(PurePosixPath(filename).suffix.lower(), "file")


async def upload_media(request: Request) -> Response:
    state = sim_state(request)
    if not is_authorized(request):
        return unauthorized(state)
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        return error(state, 400, "Expected multipart/form-data with one part named 'file'.")
    too_large = f"File too large: the upload limit is {state.max_upload_bytes} bytes."
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > state.max_upload_bytes + MULTIPART_OVERHEAD:
        return error(state, 413, too_large)

    upload_id = uuid.uuid4().hex
    folder = state.upload_dir / upload_id
    part = _FilePart(state.max_upload_bytes)
    stored = False
    try:
        parser = MultipartParser(boundary, part.callbacks())
        path = await _receive(request, parser, part, folder)
        if part.too_large:
            return error(state, 413, too_large)
        if path is None or part.filename is None:
            return error(state, 400, "Missing multipart part 'file'.")
        content_type = (
            part.content_type
            or mimetypes.guess_type(part.filename)[0]
            or "application/octet-stream"
        )
        record = UploadRecord(
            upload_id, part.filename, content_type, part.size, part.sha256.hexdigest(), path
        )
        state.add_upload(record)
        stored = True
    except FormParserError as exc:
        return error(state, 400, f"Malformed multipart body: {exc}")
    finally:
        if not stored:
            await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
    logger.info("upload %s stored (%d bytes)", upload_id, record.size)
    url = f"{base_url(request)}/files/uploads/{upload_id}/{quote(record.filename)}"
    return ok(
        state,
        {
            "download_url": url,
            "filename": record.filename,
            "file_name": record.filename,
            "size": record.size,
            "type": media_kind(record.filename),
            "content_type": content_type,
        },
    )


async def _receive(
    request: Request, parser: MultipartParser, part: _FilePart, folder: Path
) -> Path | None:
    """Feed the body to the parser, writing the file part to `folder` in batches."""
    target: anyio.AsyncFile[bytes] | None = None
    path: Path | None = None
    try:
        async for chunk in request.stream():
            if part.too_large:
                continue  # drain the rest so the client reads our 413 cleanly
            parser.write(chunk)
            if target is None and part.filename is not None and not part.too_large:
                await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
                path = folder / part.filename
                target = await anyio.open_file(path, "wb")
            if target is not None and len(part.pending) >= WRITE_BATCH:
                await target.write(bytes(part.pending))
                part.pending.clear()
        parser.finalize()
        if target is not None and part.pending:
            await target.write(bytes(part.pending))
            part.pending.clear()
    finally:
        if target is not None:
            await target.aclose()
    return path
