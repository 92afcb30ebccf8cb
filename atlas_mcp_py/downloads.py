"""Saving a finished video (or image) into the workspace: confined, atomic, size-capped,
sniffed.

`plan_save` checks a `save_to` argument before anything is sent (so a job is never paid
for when its destination is refused); `save_video` then downloads (an image job's output
with `kind="image"`: PNG, JPEG or WebP bytes; `save_bytes` writes an inline image the same
way):

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
from atlas_mcp_py.images import (
    InlineDataError,
    decode_data_url,
    inline_marker,
    is_data_url,
    sniff_image,
)
from atlas_mcp_py.media import describe_head, sniff_video
from atlas_mcp_py.results import JobResult

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_REDIRECTS",
    "OVERWRITE_HINT",
    "VIDEO_EXTENSIONS",
    "DownloadFailed",
    "SavePlan",
    "SavedFile",
    "default_stem",
    "plan_save",
    "save_bytes",
    "save_job_result",
    "save_video",
]

MAX_REDIRECTS = 3
VIDEO_EXTENSIONS = {".mp4": "video/mp4", ".webm": "video/webm"}
IMAGE_EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
OVERWRITE_HINT = "pass overwrite: true to replace it, or another save_to"
"""What a refusal of an existing file suggests (a tool without `overwrite` says otherwise)."""
_RENAMED_SUFFIXES = frozenset(
    {*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS, ".mov", ".m4v", ".mkv", ".jpeg", ".gif"}
)
"""A save_to name with one of these suffixes gets the suffix of what was saved."""
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
        raise FileRefused(f"{directory / name} already exists; {OVERWRITE_HINT}")


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
    http: httpx2.AsyncClient, url: str, fd: int, max_bytes: int, kind: str = "video"
) -> tuple[int, str]:
    """Download `url` into `fd`; (bytes written, extension of the `kind`), or
    `DownloadFailed`."""
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
            raise DownloadFailed(f"the {kind} URL answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadFailed(
                f"the {kind} is {declared} bytes, over the download limit of {max_bytes} "
                "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
            )
        head = b""
        extension: str | None = None
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise DownloadFailed(
                    f"the {kind} is over the download limit of {max_bytes} bytes "
                    "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
                )
            if extension is None:
                head += chunk
                if len(head) < _SNIFF_BYTES:
                    continue
                extension = _extension(head, content_type, kind)
                chunk, head = head, b""
            await anyio.to_thread.run_sync(_write_all, fd, chunk)
        if extension is None:
            extension = _extension(head, content_type, kind)
            await anyio.to_thread.run_sync(_write_all, fd, head)
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise DownloadFailed(f"the download broke off ({type(exc).__name__})") from None
    finally:
        await response.aclose()
    return size, extension


def _extension(head: bytes, content_type: str, kind: str = "video") -> str:
    if kind == "image":
        found = sniff_image(head)
        extension = found.default_extension if found is not None else None
    else:
        extension = sniff_video(head)
    if extension is None:
        what = "an image" if kind == "image" else "a video"
        raise DownloadFailed(
            f"what came back is not {what} ({describe_head(head)}; served as {content_type})"
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


async def save_video(
    http: httpx2.AsyncClient,
    plan: SavePlan,
    url: str,
    *,
    stem: str,
    max_bytes: int,
    kind: str = "video",
) -> SavedFile:
    """Download the video (or, with `kind="image"`, the image) at `url` as the module
    docstring says.

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
                    size, extension = await _stream_into(http, url, fd, max_bytes, kind)
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
    types = IMAGE_EXTENSIONS if kind == "image" else VIDEO_EXTENSIONS
    return SavedFile(plan.directory / final, size, types[extension])


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


async def save_job_result(
    http: httpx2.AsyncClient, result: JobResult, plan: SavePlan, *, max_bytes: int
) -> SavedFile | None:
    """Save a job's video (or image) per `plan`, recording the outcome on `result`.

    Success sets `local_path` and `size_bytes`. A failed save never loses the job: the
    result keeps its URL and a note says what failed and how to retry. Inline (`data:`)
    image outputs are decoded and written, every one (the second as `<name>-2`, ...),
    and replaced in `result` by the saved paths, or by a short marker when they could
    not be saved: the data itself never stays in the result.
    """
    retry = (
        f'call atlas_check_status with prediction_id "{result.prediction_id}" and save_to '
        "to try again"
    )
    what = result.kind
    if result.status != "completed":
        if result.status == "processing":
            result.notes.append(f"Nothing saved yet: the {what} is not ready; {retry}.")
        return None
    if any(is_data_url(output) for output in result.outputs):
        return await _save_inline(result, plan, max_bytes=max_bytes, retry=retry)
    url = result.image_url if what == "image" else result.video_url
    if not url:
        result.notes.append(f"Nothing saved: the job finished without a {what} URL.")
        return None
    stem = default_stem(result.model, result.prediction_id or "job")
    try:
        saved = await save_video(http, plan, url, stem=stem, max_bytes=max_bytes, kind=what)
    except (DownloadFailed, FileRefused) as exc:
        result.notes.append(
            f"Saving to {plan.raw!r} failed: {exc}. Nothing was written; the {what} is still "
            f"at {what}_url; {retry}."
        )
        return None
    result.local_path = str(saved.path)
    result.size_bytes = saved.size
    return saved


async def _save_inline(
    result: JobResult, plan: SavePlan, *, max_bytes: int, retry: str
) -> SavedFile | None:
    stem = default_stem(result.model, result.prediction_id or "job")
    first: SavedFile | None = None
    outputs: list[str] = []
    count = 0
    for output in result.outputs:
        if not is_data_url(output):
            outputs.append(output)
            continue
        count += 1
        try:
            image = decode_data_url(output, max_bytes=max_bytes)
            saved = await save_bytes(
                plan if count == 1 else _numbered(plan, count),
                image.content,
                stem=stem if count == 1 else f"{stem}-{count}",
                extension=image.extension,
                content_type=image.content_type,
            )
        except (InlineDataError, FileRefused) as exc:
            outputs.append(inline_marker(output))
            result.notes.append(
                f"The image came back inline (as data, not a URL) and saving it to "
                f"{plan.raw!r} failed: {exc}. Nothing was written; {retry}."
            )
            continue
        outputs.append(str(saved.path))
        first = first or saved
    result.outputs = outputs
    if result.image_url is not None and is_data_url(result.image_url):
        result.image_url = None
    if result.video_url is not None and is_data_url(result.video_url):
        result.video_url = None
    if first is not None:
        result.local_path = str(first.path)
        result.size_bytes = first.size
    return first


def _numbered(plan: SavePlan, n: int) -> SavePlan:
    """The plan for the n-th inline output: `name-n.ext` beside the first."""
    if plan.name is None:
        return plan
    path = PurePosixPath(plan.name)
    suffix = path.suffix if path.suffix.lower() in _RENAMED_SUFFIXES else ""
    name = plan.name[: len(plan.name) - len(suffix)] + f"-{n}{suffix}"
    return SavePlan(plan.raw, plan.root, plan.parts, name, plan.overwrite)
