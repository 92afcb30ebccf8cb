"""Saving a finished video into the workspace: confined, atomic, size-capped, sniffed.

`plan_save` checks a `save_to` argument before anything is sent (so a job is never paid
for when its destination is refused); `save_video` then downloads:

- the destination's real directory lies inside a root, with no hidden component; it is
  reached from the root one component at a time with `O_NOFOLLOW` (missing directories
  are created, and removed again if the save fails), so nothing is written through a
  symlink even if one is swapped in after the check;
- the body streams into a temporary file created with `O_EXCL` in that directory, capped
  at `max_bytes`; its leading bytes must be a video (MP4 `ftyp`, WebM/Matroska);
- the file is `fsync`ed, then hard-linked to its final name (which fails if the name
  exists: nothing is clobbered) or, with `overwrite`, renamed over a regular file; the
  directory is `fsync`ed;
- on any failure (network, content, cancellation) the temporary file is removed:
  no partial file and no temporary file are left behind;
- the request carries no `Authorization` header (the client's pool sets none by
  default); only http(s) URLs, at most `MAX_REDIRECTS` redirects, each re-checked.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import anyio.to_thread
import httpx2

from atlas_mcp_py.files import (
    AllowedRoots,
    FileRefused,
    hidden_component,
    open_directory,
    real_path,
)
from atlas_mcp_py.media import describe_head, sniff_video
from atlas_mcp_py.results import JobResult

__all__ = [
    "MAX_REDIRECTS",
    "VIDEO_EXTENSIONS",
    "DownloadFailed",
    "SavePlan",
    "SavedFile",
    "default_stem",
    "plan_save",
    "save_job_result",
    "save_video",
]

MAX_REDIRECTS = 3
VIDEO_EXTENSIONS = {".mp4": "video/mp4", ".webm": "video/webm"}
_SNIFF_BYTES = 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EXDEV, errno.EMLINK, getattr(errno, "ENOTSUP", -1), errno.EOPNOTSUPP}
)


class DownloadFailed(Exception):
    """The video could not be fetched or is not a video; the message says why."""


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
        raise FileRefused(
            f"{directory / name} already exists; pass overwrite: true to replace it, "
            "or another save_to"
        )


def plan_save(roots: AllowedRoots, save_to: str, *, overwrite: bool = False) -> SavePlan:
    """Check a `save_to` argument (no network, nothing written), or `FileRefused`.

    A directory (an existing one, or a path ending in a separator) gets a server-chosen
    name; anything else is a file path whose parent directories may not exist yet.
    """
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
    if suffix in VIDEO_EXTENSIONS or suffix in (".mov", ".m4v", ".mkv"):
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


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadFailed(f"refusing to download from a non-http(s) URL ({parts.scheme}:)")
    return url


async def _open(http: httpx2.AsyncClient, url: str) -> httpx2.Response:
    """The response to GET `url`, following at most MAX_REDIRECTS re-checked redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        request = http.build_request("GET", _check_url(url), headers={"Accept": "video/*, */*"})
        request.headers.pop("Authorization", None)
        response = await http.send(request, stream=True, follow_redirects=False)
        if response.status_code not in _REDIRECTS:
            return response
        location = response.headers.get("location")
        await response.aclose()
        if not location:
            raise DownloadFailed(f"HTTP {response.status_code} redirect without a Location")
        url = urljoin(url, location)
    raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


async def _stream_into(
    http: httpx2.AsyncClient, url: str, fd: int, max_bytes: int
) -> tuple[int, str]:
    """Download `url` into `fd`; (bytes written, video extension), or `DownloadFailed`."""
    try:
        response = await _open(http, url)
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise DownloadFailed(f"the download failed ({type(exc).__name__})") from None
    try:
        content_type = response.headers.get("content-type", "unknown type")
        if response.status_code in (404, 410):  # Atlas serves outputs for 14 days at most
            raise DownloadFailed(
                f"the video URL answered HTTP {response.status_code}: Atlas no longer serves "
                "it (outputs expire, after 14 days by default)"
            )
        if response.status_code != 200:
            raise DownloadFailed(f"the video URL answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadFailed(
                f"the video is {declared} bytes, over the download limit of {max_bytes} "
                "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
            )
        head = b""
        extension: str | None = None
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise DownloadFailed(
                    f"the video is over the download limit of {max_bytes} bytes "
                    "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
                )
            if extension is None:
                head += chunk
                if len(head) < _SNIFF_BYTES:
                    continue
                extension = _video_extension(head, content_type)
                chunk, head = head, b""
            await anyio.to_thread.run_sync(_write_all, fd, chunk)
        if extension is None:
            extension = _video_extension(head, content_type)
            await anyio.to_thread.run_sync(_write_all, fd, head)
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise DownloadFailed(f"the download broke off ({type(exc).__name__})") from None
    finally:
        await response.aclose()
    return size, extension


def _video_extension(head: bytes, content_type: str) -> str:
    extension = sniff_video(head)
    if extension is None:
        raise DownloadFailed(
            f"what came back is not a video ({describe_head(head)}; served as {content_type})"
        )
    return extension


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
        raise FileRefused(
            f"{final} already exists; pass overwrite: true to replace it, or another save_to"
        ) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network shares): reserve the name with O_EXCL,
        # then rename over the reservation.
        try:
            os.close(os.open(final, _CREATE_FLAGS, 0o644, dir_fd=dir_fd))
        except FileExistsError:
            raise FileRefused(
                f"{final} already exists; pass overwrite: true to replace it, or another save_to"
            ) from None
        os.replace(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    os.unlink(temp, dir_fd=dir_fd)


async def save_video(
    http: httpx2.AsyncClient, plan: SavePlan, url: str, *, stem: str, max_bytes: int
) -> SavedFile:
    """Download the video at `url` as the module docstring says.

    Raises `DownloadFailed` (network or content) or `FileRefused` (destination); in every
    case, cancellation included, nothing is left on disk.
    """
    _check_url(url)
    try:
        with _directory(plan) as dir_fd:
            temp = f".atlas-{secrets.token_hex(8)}.part"
            fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=dir_fd)
            placed = False
            try:
                try:
                    size, extension = await _stream_into(http, url, fd, max_bytes)
                    await anyio.to_thread.run_sync(os.fsync, fd)
                finally:
                    os.close(fd)
                final = _final_name(plan, stem, extension)
                await anyio.to_thread.run_sync(_place, dir_fd, temp, final, plan.overwrite)
                placed = True
                await anyio.to_thread.run_sync(os.fsync, dir_fd)
            finally:
                if not placed:
                    with suppress(FileNotFoundError):
                        os.unlink(temp, dir_fd=dir_fd)
    except OSError as exc:
        raise FileRefused(f"could not write into {plan.directory} ({exc.strerror})") from None
    return SavedFile(plan.directory / final, size, VIDEO_EXTENSIONS[extension])


async def save_job_result(
    http: httpx2.AsyncClient, result: JobResult, plan: SavePlan, *, max_bytes: int
) -> SavedFile | None:
    """Save a job's video per `plan`, recording the outcome on `result`.

    Success sets `local_path` and `size_bytes`. A failed save never loses the job: the
    result keeps its `video_url` and a note says what failed and how to retry.
    """
    retry = (
        f'call atlas_check_status with prediction_id "{result.prediction_id}" and save_to '
        "to try again"
    )
    if result.status != "completed":
        if result.status == "processing":
            result.notes.append(f"Nothing saved yet: the video is not ready; {retry}.")
        return None
    if not result.video_url:
        result.notes.append("Nothing saved: the job finished without a video URL.")
        return None
    stem = default_stem(result.model, result.prediction_id or "job")
    try:
        saved = await save_video(http, plan, result.video_url, stem=stem, max_bytes=max_bytes)
    except (DownloadFailed, FileRefused) as exc:
        result.notes.append(
            f"Saving to {plan.raw!r} failed: {exc}. Nothing was written; the video is still "
            f"at video_url; {retry}."
        )
        return None
    result.local_path = str(saved.path)
    result.size_bytes = saved.size
    return saved
