"""Local files: allowed roots, path confinement, upload sources, reuse of recent uploads.

Every path a tool receives was chosen by a model that may have read untrusted text. An
upload passes these checks, in this order, before any network request:

1. the path resolves (symlinks followed) to a real path inside an allowed root, compared
   component by component (`/root-evil` is not inside `/root`), never by string prefix;
2. no component below the root is hidden (`.ssh`, `.env`, `.git`, ...);
3. the real path is opened with `O_NOFOLLOW | O_NONBLOCK` (a symlink swapped in fails, a
   FIFO cannot block the open); `fstat` must say regular file with the same device and
   inode as the checked path: everything after streams from that descriptor;
4. the leading bytes are an image, video or audio format matching the extension
   (`media.media_type_for`);
5. the size is within the cap; the client then streams exactly that many bytes and fails
   if the file grows or shrinks meanwhile.

`check_upload_path` does 1-2 and an `lstat`; `open_upload_source` does 3-5. They are
separate so the race (a file swapped between check and open) can be tested.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from atlas_mcp_py.client import AtlasClient, ProgressFn
from atlas_mcp_py.media import HEAD_BYTES, MediaFormat, MediaMismatch, media_type_for
from atlas_mcp_py.results import UploadResult

__all__ = [
    "AllowedRoots",
    "CheckedPath",
    "FileRefused",
    "UploadCache",
    "UploadSource",
    "check_upload_path",
    "frame_source",
    "hidden_component",
    "is_within",
    "open_upload_source",
    "prepare_upload",
    "upload_file",
]

HASH_BLOCK = 1024 * 1024
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)


class FileRefused(Exception):
    """A path or file the server will not read or write; the message says why."""


def is_within(path: Path, root: Path) -> bool:
    """True when `path` is `root` or below it, component by component (both absolute)."""
    root_parts = root.parts
    return path.parts[: len(root_parts)] == root_parts


def hidden_component(path: Path, root: Path) -> str | None:
    """The first hidden component (`.name`) of `path` below `root`, or None.

    Only the part below the root counts: a root that itself lives under a dot-directory
    (`~/.cache/project`) is fine.
    """
    for part in path.parts[len(root.parts) :]:
        if part.startswith(".") and part not in (".", ".."):
            return part
    return None


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def frame_source(value: str) -> str:
    """ "url" for an http(s) URL (passed on untouched), "path" for a local path.

    Any other scheme (file:, data:, ftp:, javascript:, ...) raises `ValueError`: a URL
    Atlas cannot fetch, or a way around the path checks. A one-letter "scheme" is a
    Windows drive (`C:`), not a URL.
    """
    match = _SCHEME.match(value.strip())
    if match is None:
        return "path"
    scheme = match.group(1).lower()
    if scheme in ("http", "https") and value.strip()[len(scheme) + 1 :].startswith("//"):
        return "url"
    raise ValueError(f"{scheme}: URLs are not accepted; pass an http(s) URL or a local file path")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a regular file"


@dataclass(frozen=True)
class AllowedRoots:
    """Directories the server may read uploads from and write results into (real paths)."""

    roots: tuple[Path, ...]
    source: str = "configured"
    """Where they came from: "ATLAS_MCP_ROOTS", "client roots", or "working directory"."""

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], source: str) -> AllowedRoots:
        """The existing directories among `paths`, by real path.

        None existing is not an error here (the server still starts); every path
        argument is then refused with a message saying so.
        """
        resolved: list[Path] = []
        for raw in paths:
            real = Path(os.path.realpath(Path(raw).expanduser()))
            if real.is_dir() and real not in resolved:
                resolved.append(real)
        return cls(tuple(resolved), source)

    def describe(self) -> str:
        return os.pathsep.join(str(r) for r in self.roots)

    def absolute(self, raw: str) -> Path:
        """`raw` as an absolute path (relative to the first root); refuses empty and NUL."""
        if not raw or not raw.strip():
            raise FileRefused("the path is empty")
        if "\x00" in raw:
            raise FileRefused("the path contains a NUL byte")
        if not self.roots:
            raise FileRefused(
                f"none of the allowed roots ({self.source}) is an existing directory; "
                "fix ATLAS_MCP_ROOTS"
            )
        candidate = Path(raw).expanduser()
        return candidate if candidate.is_absolute() else self.roots[0] / candidate

    def root_of(self, real: Path) -> Path | None:
        """The root `real` lies in (the deepest one when roots nest), or None."""
        matches = [root for root in self.roots if is_within(real, root)]
        return max(matches, key=lambda r: len(r.parts)) if matches else None

    def locate(self, raw: str) -> tuple[Path, Path]:
        """(real path, its root) of `raw`, or `FileRefused` when outside every root."""
        real = Path(os.path.realpath(self.absolute(raw)))
        root = self.root_of(real)
        if root is None:
            raise FileRefused(
                f"it resolves to {real}, outside the allowed roots ({self.describe()}); "
                "move the file into the workspace or set ATLAS_MCP_ROOTS"
            )
        return real, root

    def resolve(self, raw: str) -> Path:
        """The real path of `raw` (relative to the first root), or `FileRefused`."""
        return self.locate(raw)[0]


@dataclass(frozen=True)
class CheckedPath:
    """A path that passed confinement and the hidden-name rule, with its identity."""

    raw: str
    real: Path
    root: Path
    device: int
    inode: int


def check_upload_path(roots: AllowedRoots, raw: str) -> CheckedPath:
    """Checks 1-2 of the module docstring, then `lstat`: a regular file, or `FileRefused`."""
    real, root = roots.locate(raw)
    lexical = Path(os.path.normpath(roots.absolute(raw)))
    for path in (real, lexical):
        hidden = hidden_component(path, root) if is_within(path, root) else None
        if hidden is not None:
            raise FileRefused(
                f"{hidden!r} is a hidden name: hidden files and directories (.env, .ssh, "
                ".git, ...) are never uploaded"
            )
    try:
        info = os.lstat(real)
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


def open_upload_source(checked: CheckedPath, *, max_bytes: int) -> UploadSource:
    """Checks 3-5 of the module docstring on an already checked path, or `FileRefused`."""
    real = checked.real
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileRefused(f"{real} was replaced by a symlink after it was checked") from None
        if exc.errno == errno.ENOENT:
            raise FileRefused(f"{real} disappeared after it was checked") from None
        raise FileRefused(f"{real} cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{real} is {_kind(info.st_mode)}, not a regular file")
        if (info.st_dev, info.st_ino) != (checked.device, checked.inode):
            raise FileRefused(f"{real} was replaced by another file after it was checked")
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
    on_progress: ProgressFn | None = None,
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
