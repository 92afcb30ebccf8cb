"""Local files: allowed roots, path confinement, upload sources, reuse of recent uploads.

Every path a tool receives was chosen by a model that may have read untrusted text. An
upload passes these checks, in this order, before any network request:

1. the path resolves (symlinks followed) to a real path inside an allowed root, compared
   component by component (`/root-evil` is not inside `/root`), never by string prefix;
2. no component below the root is hidden (`.ssh`, `.env`, `.git`, ...);
3. the file is reached from the root's directory descriptor one component of the real
   path at a time, each opened with `O_NOFOLLOW` (`O_DIRECTORY` for directories) relative
   to the one before (`dir_fd`): the path is never resolved by name again, so a directory
   swapped for a symlink after step 1 fails the walk instead of leading outside. The file
   is opened `O_NOFOLLOW | O_NONBLOCK` (a FIFO cannot block the open); `fstat` must say
   regular file, one hard link (a hard link into the workspace would expose a file from
   outside), and the same device and inode as the checked path: everything after
   streams from that descriptor;
4. the leading bytes are an image, video or audio format matching the extension
   (`media.media_type_for`);
5. the size is within the cap; the client then streams exactly that many bytes and fails
   if the file grows or shrinks meanwhile.

`check_upload_path` does 1-2 and a walk to `lstat` the file; `open_upload_source` does
3-5. They are separate so the race (a file swapped between check and open) can be tested.
Saves (`downloads.py`) walk the same way (`open_directory`).

A platform without `O_NOFOLLOW`, `O_DIRECTORY` or `dir_fd` support (Windows) cannot walk
like this: there every local path is refused (`unsupported_platform`), and the tools work
with URLs only.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    "open_directory",
    "open_upload_source",
    "prepare_upload",
    "real_path",
    "too_broad",
    "unsupported_platform",
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
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_WALK_ERRORS = frozenset({errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", -1)})
"""What opening a symlink with O_NOFOLLOW (| O_DIRECTORY) raises: ELOOP on Linux and
macOS, ENOTDIR for a non-directory, EMLINK on FreeBSD."""

NO_LOCAL_FILES = (
    "local files are not supported on this platform ({missing} missing: the server opens "
    "files only through directory descriptors without following symlinks, which it "
    "cannot do here); pass an https:// URL as `image` / `end_image` instead, and take the "
    "video from `video_url` instead of `save_to`"
)


class FileRefused(Exception):
    """A path or file the server will not read or write; the message says why."""


def unsupported_platform() -> str | None:
    """Why local files cannot be opened safely here (Windows), or None where they can.

    Checked on every use, not once at import, so a test can take the capabilities away.
    """
    missing = [name for name in ("O_NOFOLLOW", "O_DIRECTORY") if not hasattr(os, name)]
    if not {os.open, os.stat, os.mkdir, os.rmdir, os.unlink} <= os.supports_dir_fd:
        missing.append("dir_fd")
    if not hasattr(os, "pread"):
        missing.append("pread")
    return NO_LOCAL_FILES.format(missing=", ".join(missing)) if missing else None


def too_broad(path: Path) -> str | None:
    """Why `path` (a real path) may not be a root taken from a client or the working
    directory: a filesystem root or drive (`/`, `C:\\`), or the home directory or one
    above it. None when it may be."""
    if path == Path(path.anchor):
        return "a filesystem root"
    try:
        home = Path(os.path.realpath(Path.home()))
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return None
    if is_within(home, path):
        return "the home directory" if home == path else "a directory holding the home directory"
    return None


def real_path(path: Path) -> Path:
    """`os.path.realpath`, or `FileRefused` when a component changes while it is read."""
    try:
        return Path(os.path.realpath(path))
    except OSError as exc:
        raise FileRefused(f"{path} cannot be resolved ({exc.strerror})") from None


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
    client_roots: Literal["ignore", "narrow", "replace"] = "ignore"
    """What the roots an MCP client offers do to these: nothing (over HTTP, where they name
    the client's machine), narrow them (stdio with ATLAS_MCP_ROOTS), or stand in for them
    (stdio without: the working directory is only the fallback)."""
    empty_reason: str | None = None
    """Why there are no roots, when that is by design (HTTP without ATLAS_MCP_ROOTS)."""

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[Path | str],
        source: str,
        client_roots: Literal["ignore", "narrow", "replace"] = "ignore",
    ) -> AllowedRoots:
        """The existing directories among `paths`, by real path.

        None existing is not an error here (the server still starts); every path
        argument is then refused with a message saying so.
        """
        resolved: list[Path] = []
        for raw in paths:
            real = Path(os.path.realpath(Path(raw).expanduser()))
            if real.is_dir() and real not in resolved:
                resolved.append(real)
        return cls(tuple(resolved), source, client_roots)

    def narrowed_to(self, others: AllowedRoots) -> AllowedRoots:
        """The parts of these roots that also lie within `others` (each root of either
        that is inside a root of the other), in the order of `others`."""
        kept: list[Path] = []
        for other in others.roots:
            for root in self.roots:
                if is_within(other, root):
                    inner = other
                elif is_within(root, other):
                    inner = root
                else:
                    continue
                if inner not in kept:
                    kept.append(inner)
        return AllowedRoots(tuple(kept), f"{self.source} narrowed by client roots")

    def describe(self) -> str:
        return os.pathsep.join(str(r) for r in self.roots)

    def absolute(self, raw: str) -> Path:
        """`raw` as an absolute path (relative to the first root); refuses empty and NUL."""
        if not raw or not raw.strip():
            raise FileRefused("the path is empty")
        if "\x00" in raw:
            raise FileRefused("the path contains a NUL byte")
        unsupported = unsupported_platform()
        if unsupported is not None:
            raise FileRefused(unsupported)
        if not self.roots:
            if self.empty_reason is not None:
                raise FileRefused(self.empty_reason)
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
        real = real_path(self.absolute(raw))
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


def _open_child(parent: int | None, name: str, flags: int, shown: Path) -> int:
    """`name` opened relative to the directory descriptor `parent` (never following a
    symlink: `flags` hold O_NOFOLLOW), or `FileRefused` saying what was in the way."""
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in _WALK_ERRORS:
            raise FileRefused(
                f"{shown} is a symlink or not a plain directory (it may have been swapped "
                "after the check); nothing is read or written through a symlink"
            ) from None
        if exc.errno == errno.ENOENT:
            raise FileRefused(f"{shown} does not exist") from None
        raise FileRefused(f"{shown} cannot be opened ({exc.strerror})") from None


def open_directory(root: Path, parts: Sequence[str]) -> int:
    """A descriptor of `root/parts...`: the root opened as a directory, then each part
    relative to the one before with `O_NOFOLLOW | O_DIRECTORY`; the caller closes it.
    `FileRefused` when a part is missing, a symlink or not a directory."""
    fd = _open_child(None, str(root), _DIR_FLAGS, root)
    shown = root
    try:
        for part in parts:
            shown = shown / part
            child = _open_child(fd, part, _DIR_FLAGS, shown)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def _parent_of(real: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(descriptor of the directory holding `real`, reached by the walk; its name)."""
    parts = real.parts[len(root.parts) :]
    if not parts:
        raise FileRefused(f"{real} is a directory, not a regular file")
    fd = open_directory(root, parts[:-1])
    try:
        yield fd, parts[-1]
    finally:
        os.close(fd)


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
