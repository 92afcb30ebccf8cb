"""Where the server may read and write: allowed roots, confined path checks."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atlas_mcp_py.errors import FileRefused

__all__ = [
    "AllowedRoots",
    "CheckedPath",
    "frame_source",
    "hidden_component",
    "is_within",
    "open_directory",
    "real_path",
    "too_broad",
    "unsupported_platform",
]


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
