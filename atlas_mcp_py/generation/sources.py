"""Local files of a call: the frames opened and checked before anything is sent, uploads
with progress, and where a result will be saved.

Every check on every local path runs before the first byte goes out; a refusal is
`Refused` with a message saying what to pass instead, and closes what was opened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from atlas_mcp_py.atlas import UploadProgressFn, format_problem
from atlas_mcp_py.errors import FileRefused, Refused
from atlas_mcp_py.files import (
    OVERWRITE_HINT,
    AllowedRoots,
    SavePlan,
    UploadResult,
    UploadSource,
    frame_source,
    plan_save,
    prepare_upload,
    upload_file,
)
from atlas_mcp_py.generation.hooks import Hooks, ProgressFn
from atlas_mcp_py.generation.services import Services
from atlas_mcp_py.jobs import Plan

__all__ = [
    "IMAGE_OVERWRITE_HINT",
    "check_files",
    "human_size",
    "local_frames",
    "open_sources",
    "plan_destination",
    "upload_local",
    "upload_progress",
    "upload_url",
]

PROGRESS_INTERVAL_SECONDS = 0.5
"""Upload progress is reported at most this often (and always at the end)."""

IMAGE_OVERWRITE_HINT = (
    "give another save_to, or none and then replace the file with atlas_check_status "
    "(the prediction_id, this save_to and overwrite: true)"
)
"""`OVERWRITE_HINT` for the image tool, which has no `overwrite`: what it can do instead."""


def local_frames(frames: dict[str, str]) -> dict[str, str]:
    """The frame arguments that are local paths; any non-http(s) URL is refused."""
    local: dict[str, str] = {}
    for name, value in frames.items():
        try:
            if frame_source(value) == "path":
                local[name] = value
        except ValueError as exc:
            raise Refused(f"`{name}`: {exc}. Nothing was sent.") from None
    return local


async def open_sources(
    services: Services, hooks: Hooks, paths: dict[str, str]
) -> list[UploadSource]:
    """Every check on every local path before any is sent; a refusal is `Refused` (and
    closes what was already opened)."""
    roots = await hooks.roots()
    sources: list[UploadSource] = []
    try:
        for name, raw in paths.items():
            try:
                limit = services.settings.max_upload_bytes
                sources.append(prepare_upload(roots, raw, max_bytes=limit))
            except FileRefused as exc:
                what = f"`{name}` " if name != "path" else ""
                message = f"Refused to upload {what}{raw!r}: {exc}. Nothing was sent."
                raise Refused(message) from None
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources


async def plan_destination(
    hooks: Hooks, save_to: str | None, overwrite: bool, *, kind: str = "video"
) -> SavePlan | None:
    """The checked `save_to` (None when not asked); a refusal is `Refused`. An image
    call (`kind`), which cannot overwrite, is told how to replace the file instead."""
    if save_to is None:
        return None
    roots: AllowedRoots = await hooks.roots()
    try:
        return plan_save(roots, save_to, overwrite=overwrite)
    except FileRefused as exc:
        message = f"Refused save_to {save_to!r}: {exc}. Nothing was sent."
        if kind == "image":
            message = message.replace(OVERWRITE_HINT, IMAGE_OVERWRITE_HINT)
        raise Refused(message) from None


def check_files(plan: Plan, sources: Mapping[str, UploadSource]) -> None:
    """Refuse (before any upload) a local file its parameter does not take: a WebP
    frame for a model that takes JPG and PNG, an image where a video goes, a file over
    the parameter's `x-max-size-mb`. A refusal closes every source."""
    for slot, source in sources.items():
        fmt = source.path.suffix.lstrip(".") or None
        problem = format_problem(plan.param_of(slot), source.media.kind, fmt, source.size)
        if problem is not None:
            for opened in sources.values():
                opened.close()
            raise Refused(
                f"{plan.model.id}: {problem} ({source.filename} given as "
                f"`{plan.label(slot)}`). Nothing was sent."
            )


async def upload_url(services: Services, source: UploadSource) -> str:
    """Upload an opened local frame (reusing a recent upload of the same bytes): its URL."""
    return (await upload_file(services.client, source, services.uploads))[0].url


def human_size(size: int) -> str:
    """1.2 GB, 3.4 MB, 56 kB or 789 bytes (never "0.0 MB" for a small file)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} kB" if size >= 1e3 else f"{size} bytes"


def upload_progress(
    progress: ProgressFn, filename: str, clock: Callable[[], float]
) -> UploadProgressFn:
    """Progress of an upload: bytes sent of the total, at most twice a second, and
    always the last one."""
    last = -float("inf")

    async def report(sent: int, size: int) -> None:
        nonlocal last
        now = clock()
        if sent < size and now - last < PROGRESS_INTERVAL_SECONDS:
            return
        last = now
        percent = sent * 100 // size if size else 100
        message = f"Uploading {filename}: {percent}% of {human_size(size)}"
        await progress(sent, size, message)

    return report


async def upload_local(services: Services, hooks: Hooks, raw_path: str) -> UploadResult:
    """Upload one file inside the roots (`atlas_upload_media`), reporting progress."""
    (source,) = await open_sources(services, hooks, {"path": raw_path})
    try:
        services.settings.require_api_key()
        progress = upload_progress(hooks.progress, source.filename, hooks.clock)
        return (await upload_file(services.client, source, services.uploads, on_progress=progress))[
            0
        ]
    finally:
        source.close()
