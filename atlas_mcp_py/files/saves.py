"""Saving into the roots: where a result goes (plan_save) and writing it safely."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import anyio.to_thread

from atlas_mcp_py.errors import FileRefused
from atlas_mcp_py.files.roots import AllowedRoots, hidden_component, open_directory, real_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "OVERWRITE_HINT",
    "VIDEO_EXTENSIONS",
    "SavePlan",
    "SavedFile",
    "default_stem",
    "numbered",
    "plan_save",
    "same_files",
    "save_bytes",
]


VIDEO_EXTENSIONS = {".mp4": "video/mp4", ".webm": "video/webm"}


IMAGE_EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


_UNSAFE_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Control characters (newline included), and the bidirectional marks, embeddings,
overrides and isolates that make `x/\u202egnp.mp4` display as a `.png`."""


_CHAR_LABELS = {"\x00": "NUL", "\n": "a newline", "\r": "a carriage return", "\x1b": "ESC"}


OVERWRITE_HINT = "pass overwrite: true to replace it, or another save_to"
"""What a refusal of an existing file suggests (a tool without `overwrite` says otherwise)."""


_RENAMED_SUFFIXES = frozenset(
    {*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS, ".mov", ".m4v", ".mkv", ".jpeg", ".gif"}
)
"""A save_to name with one of these suffixes gets the suffix of what was saved."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EXDEV, errno.EMLINK, getattr(errno, "ENOTSUP", -1), errno.EOPNOTSUPP}
)


@dataclass(frozen=True)
class SavePlan:
    """A checked `save_to`: where the file goes, relative to its root."""

    raw: str
    root: Path
    parts: tuple[str, ...]
    """Directory components below the root (real path), possibly not existing yet."""
    name: str | None
    """The file name asked for, or None: the server picks `<model>-<id>.mp4`."""
    overwrite: bool

    @property
    def directory(self) -> Path:
        return self.root.joinpath(*self.parts)


@dataclass(frozen=True)
class SavedFile:
    path: Path
    size: int
    content_type: str


def default_stem(model: str, prediction_id: str) -> str:
    """`<model-slug>-<prediction-id>`, safe as a file name on every platform."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "video"
    pid = re.sub(r"[^A-Za-z0-9_-]+", "-", prediction_id).strip("-") or "job"
    return f"{slug}-{pid}"[:200]


def _refuse_existing(directory: Path, name: str, overwrite: bool) -> None:
    try:
        info = os.lstat(directory / name)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise FileRefused(f"{directory} is not a directory") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileRefused(f"{directory / name} is a symlink; nothing is ever written through one")
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{directory / name} exists and is not a regular file")
    if not overwrite:
        raise FileRefused(f"{directory / name} already exists; {OVERWRITE_HINT}")


def plan_save(roots: AllowedRoots, save_to: str, *, overwrite: bool = False) -> SavePlan:
    """Check a `save_to` argument (no network, nothing written), or `FileRefused`.

    A directory (an existing one, or a path ending in a separator) gets a server-chosen
    name; anything else is a file path whose parent directories may not exist yet.
    """
    unsafe = _UNSAFE_CHARS.search(save_to)
    if unsafe is not None:
        char = unsafe.group()
        label = _CHAR_LABELS.get(char) or unicodedata.name(char, "a control character")
        raise FileRefused(
            f"save_to holds {label} (U+{ord(char):04X}) at character {unsafe.start() + 1}: "
            "control and text-direction characters can disguise a name or forge a line; "
            "give a name of plain characters"
        )
    candidate = roots.absolute(save_to)
    is_dir = save_to.endswith(("/", os.sep)) or candidate.is_dir()
    directory, name = (candidate, None) if is_dir else (candidate.parent, candidate.name)
    if name is not None and name in (".", ".."):
        raise FileRefused(f"{save_to!r} does not name a file")
    real = real_path(directory)
    root = roots.root_of(real)
    if root is None:
        raise FileRefused(
            f"{save_to!r} resolves to {real}, outside the allowed roots ({roots.describe()}); "
            "save inside the workspace"
        )
    hidden = hidden_component(real / (name or "x"), root)
    if hidden is not None:
        raise FileRefused(f"{hidden!r} is a hidden name: results are never saved into one")
    parts = real.parts[len(root.parts) :]
    existing = real
    while not existing.exists() and existing != root:
        existing = existing.parent
    if not existing.is_dir():
        raise FileRefused(f"{existing} is not a directory")
    if name is not None:
        _refuse_existing(real, name, overwrite)
    return SavePlan(save_to, root, parts, name, overwrite)


def _final_name(plan: SavePlan, stem: str, extension: str) -> str:
    if plan.name is None:
        return stem + extension
    suffix = PurePosixPath(plan.name).suffix.lower()
    if suffix == extension:
        return plan.name
    if suffix in _RENAMED_SUFFIXES:
        return plan.name[: -len(suffix)] + extension
    return plan.name + extension


@contextmanager
def _directory(plan: SavePlan) -> Iterator[int]:
    """A descriptor of the plan's directory, walked from the root without following
    symlinks; directories it had to create are removed again if the block fails."""
    fd = open_directory(plan.root, ())
    created: list[tuple[int, str]] = []
    opened = [fd]
    try:
        for part in plan.parts:
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
                created.append((fd, part))
            except FileExistsError:
                pass
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise FileRefused(
                        f"{plan.directory} is not a plain directory (a symlink or a file is "
                        "in the way); nothing is written through a symlink"
                    ) from None
                raise
            opened.append(fd)
        yield fd
    except BaseException:
        for parent, part in reversed(created):
            try:
                os.rmdir(part, dir_fd=parent)
            except OSError:
                break
        raise
    finally:
        for each in opened:
            os.close(each)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _place(dir_fd: int, temp: str, final: str, overwrite: bool) -> None:
    """Move the finished temporary file to `final` without clobbering or following links."""
    if overwrite:
        try:
            info = os.lstat(final, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        else:
            if stat.S_ISLNK(info.st_mode):
                raise FileRefused(f"{final} is a symlink; nothing is ever written through one")
            if not stat.S_ISREG(info.st_mode):
                raise FileRefused(f"{final} exists and is not a regular file")
        os.replace(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    try:
        os.link(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise FileRefused(f"{final} already exists; {OVERWRITE_HINT}") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network shares): reserve the name with O_EXCL,
        # then rename over the reservation.
        try:
            os.close(os.open(final, _CREATE_FLAGS, 0o644, dir_fd=dir_fd))
        except FileExistsError:
            raise FileRefused(f"{final} already exists; {OVERWRITE_HINT}") from None
        os.replace(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    os.unlink(temp, dir_fd=dir_fd)


def _same_file(dir_fd: int, name: str, content: bytes) -> bool:
    """Is `name` (in `dir_fd`, not followed if a link) a regular file holding `content`?"""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(content):
            return False
        with os.fdopen(os.dup(fd), "rb") as existing:
            return existing.read() == content
    finally:
        os.close(fd)


def same_files(dir_fd: int, first: str, second: str) -> bool:
    """Are `first` and `second` (in `dir_fd`, links not followed) regular files with the
    same bytes? A download that finds its destination taken by the very same video (an
    earlier call for this job saved it: its client gave up and called again) keeps that."""
    files = []
    try:
        for name in (first, second):
            flags = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            files.append(os.fdopen(os.open(name, flags, dir_fd=dir_fd), "rb"))
        infos = [os.fstat(f.fileno()) for f in files]
        if not all(stat.S_ISREG(i.st_mode) for i in infos) or infos[0].st_size != infos[1].st_size:
            return False
        while chunk := files[0].read(1 << 20):
            if chunk != files[1].read(len(chunk)):
                return False
        return True
    except OSError:
        return False
    finally:
        for f in files:
            f.close()


def _write_new(dir_fd: int, content: bytes, final: str, overwrite: bool) -> None:
    temp = f".atlas-{secrets.token_hex(8)}.part"
    fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=dir_fd)
    placed = False
    try:
        try:
            _write_all(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        _place(dir_fd, temp, final, overwrite)
        placed = True
        os.fsync(dir_fd)
    finally:
        if not placed:
            with suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)


async def save_bytes(
    plan: SavePlan, content: bytes, *, stem: str, extension: str, content_type: str
) -> SavedFile:
    """Write `content` (an inline output, decoded) where `plan` says, like `save_video`:
    confined, atomic, nothing left behind on failure. A file already there holding the
    very same bytes is kept and reported (checking a job twice saves it once)."""

    def write() -> str:
        with _directory(plan) as dir_fd:
            final = _final_name(plan, stem, extension)
            if not plan.overwrite and _same_file(dir_fd, final, content):
                return final
            _write_new(dir_fd, content, final, plan.overwrite)
            return final

    try:
        final = await anyio.to_thread.run_sync(write)
    except OSError as exc:
        raise FileRefused(f"could not write into {plan.directory} ({exc.strerror})") from None
    return SavedFile(plan.directory / final, len(content), content_type)


def numbered(plan: SavePlan, n: int) -> SavePlan:
    """The plan for the n-th inline output: `name-n.ext` beside the first."""
    if plan.name is None:
        return plan
    path = PurePosixPath(plan.name)
    suffix = path.suffix if path.suffix.lower() in _RENAMED_SUFFIXES else ""
    name = plan.name[: len(plan.name) - len(suffix)] + f"-{n}{suffix}"
    return SavePlan(plan.raw, plan.root, plan.parts, name, plan.overwrite)
