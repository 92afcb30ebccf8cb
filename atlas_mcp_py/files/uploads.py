"""Local files to Atlas uploads: open once, hash while sending, reuse recent ones."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from pydantic import BaseModel

from atlas_mcp_py.atlas import AtlasClient, UploadProgressFn
from atlas_mcp_py.errors import FileRefused, MediaMismatch
from atlas_mcp_py.files.media import HEAD_BYTES, MediaFormat, media_type_for
from atlas_mcp_py.files.roots import (
    _OPEN_FLAGS,
    _WALK_ERRORS,
    AllowedRoots,
    CheckedPath,
    _kind,
    _parent_of,
    hidden_component,
    is_within,
)

__all__ = [
    "UploadCache",
    "UploadResult",
    "UploadSource",
    "check_upload_path",
    "open_upload_source",
    "prepare_upload",
    "upload_file",
]

HASH_BLOCK = 1024 * 1024


def check_upload_path(roots: AllowedRoots, raw: str) -> CheckedPath:
    """Checks 1-2 of the module docstring, then an `lstat` at the end of the walk: a
    regular file, or `FileRefused`."""
    real, root = roots.locate(raw)
    lexical = Path(os.path.normpath(roots.absolute(raw)))
    for path in (real, lexical):
        hidden = hidden_component(path, root) if is_within(path, root) else None
        if hidden is not None:
            raise FileRefused(
                f"{hidden!r} is a hidden name: hidden files and directories (.env, .ssh, "
                ".git, ...) are never uploaded"
            )
    with _parent_of(real, root) as (parent, name):
        try:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise FileRefused(f"{real} does not exist") from None
        except OSError as exc:
            raise FileRefused(f"{real} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{real} is {_kind(info.st_mode)}, not a regular file")
    return CheckedPath(raw, real, root, info.st_dev, info.st_ino)


class HashingReader(io.FileIO):
    """A read-only file over a descriptor that hashes what is read since the last seek.

    The client seeks to the start before each attempt and reads `size` bytes; when the
    bytes it read hash to the digest taken before sending, the file did not change.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(fd, "rb", closefd=True)
        self._sha = hashlib.sha256()
        self.streamed = 0

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        self._sha = hashlib.sha256()
        self.streamed = 0
        return super().seek(pos, whence)

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size) or b""
        self._sha.update(data)
        self.streamed += len(data)
        return data

    def streamed_digest(self) -> str:
        return self._sha.hexdigest()


@dataclass
class UploadSource:
    """An open regular file ready to stream, with what Atlas needs to know about it."""

    file: HashingReader
    path: Path
    filename: str
    content_type: str
    size: int
    media: MediaFormat

    def sha256(self) -> str:
        """The digest of the `size` bytes at the start of the descriptor (blocking).

        Read with `pread` before anything is sent, so a recent upload of the same
        content can be reused without a request; the file position is not moved.
        """
        digest = hashlib.sha256()
        fd = self.file.fileno()
        offset = 0
        while offset < self.size:
            block = os.pread(fd, min(HASH_BLOCK, self.size - offset), offset)
            if not block:
                break
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()

    def close(self) -> None:
        self.file.close()


def _open_checked(checked: CheckedPath) -> int:
    real = checked.real
    with _parent_of(real, checked.root) as (parent, name):
        try:
            return os.open(name, _OPEN_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in _WALK_ERRORS:
                raise FileRefused(
                    f"{real} was replaced by a symlink after it was checked"
                ) from None
            if exc.errno == errno.ENOENT:
                raise FileRefused(f"{real} disappeared after it was checked") from None
            raise FileRefused(f"{real} cannot be opened ({exc.strerror})") from None


def open_upload_source(checked: CheckedPath, *, max_bytes: int) -> UploadSource:
    """Checks 3-5 of the module docstring on an already checked path, or `FileRefused`."""
    real = checked.real
    fd = _open_checked(checked)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{real} is {_kind(info.st_mode)}, not a regular file")
        if (info.st_dev, info.st_ino) != (checked.device, checked.inode):
            raise FileRefused(f"{real} was replaced by another file after it was checked")
        if info.st_nlink > 1:
            raise FileRefused(
                f"{real.name} has {info.st_nlink} hard links: it may be a file from outside "
                "the allowed roots linked in, so it is never uploaded; upload a copy "
                "(`cp` makes a separate file)"
            )
        head = os.pread(fd, HEAD_BYTES, 0)
        try:
            media, content_type = media_type_for(real.name, head)
        except MediaMismatch as exc:
            raise FileRefused(f"{real.name}: {exc}") from None
        if info.st_size > max_bytes:
            raise FileRefused(
                f"{real.name} is {info.st_size} bytes, over the upload limit of {max_bytes} "
                "bytes (ATLAS_MCP_MAX_UPLOAD_BYTES)"
            )
        reader = HashingReader(fd)
    except BaseException:
        os.close(fd)
        raise
    return UploadSource(reader, real, real.name, content_type, info.st_size, media)


def prepare_upload(roots: AllowedRoots, raw: str, *, max_bytes: int) -> UploadSource:
    """Every check of the module docstring; the open source, or `FileRefused`."""
    return open_upload_source(check_upload_path(roots, raw), max_bytes=max_bytes)


@dataclass
class UploadCache:
    """Recent uploads by content digest, so the same bytes are not sent twice."""

    ttl_seconds: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, UploadResult]] = field(default_factory=dict)

    def get(self, digest: str) -> UploadResult | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self.clock() - entry[0] >= self.ttl_seconds:
            del self._entries[digest]
            return None
        return entry[1]

    def put(self, digest: str, result: UploadResult) -> None:
        if self.ttl_seconds <= 0:
            return
        now = self.clock()
        expired = [k for k, (at, _) in self._entries.items() if now - at >= self.ttl_seconds]
        for key in expired:
            del self._entries[key]
        self._entries[digest] = (now, result)


async def upload_file(
    client: AtlasClient,
    source: UploadSource,
    cache: UploadCache,
    *,
    on_progress: UploadProgressFn | None = None,
) -> tuple[UploadResult, bool]:
    """Upload an open source, or reuse a recent upload of the same bytes: (result, reused).

    The sha256 is taken before sending (one extra read of the file, ~2 GB/s) because
    that is the only way to skip the request; the bytes actually streamed are hashed
    again on the way, and the URL is remembered only when both digests agree (the file
    did not change during the upload). With reuse off (`ttl_seconds` 0) nothing is hashed
    before sending.
    """
    if cache.ttl_seconds <= 0:  # reuse is off: no digest to take
        digest = None
    else:
        digest = await anyio.to_thread.run_sync(source.sha256)
        cached = cache.get(digest)
        if cached is not None:
            return cached, True
    upload = await client.upload(
        source.file,
        filename=source.filename,
        content_type=source.content_type,
        size=source.size,
        on_progress=on_progress,
    )
    result = UploadResult(
        url=upload.url,
        filename=upload.filename or source.filename,
        size_bytes=upload.size if upload.size is not None else source.size,
        content_type=upload.content_type or source.content_type,
    )
    if (
        digest is not None
        and source.file.streamed == source.size
        and source.file.streamed_digest() == digest
    ):
        cache.put(digest, result)
    return result, False


class UploadResult(BaseModel):
    url: str
    filename: str
    size_bytes: int
    content_type: str
