"""Saving a finished job's output: downloaded (or decoded, when inline) into a file.

A failed save never loses the job: the result keeps its URL and a note says what failed
and how to try again.
"""

from __future__ import annotations

import httpx2

from atlas_mcp_py.atlas import inline_marker, is_data_url
from atlas_mcp_py.config import DEFAULT_MAX_INLINE_BYTES, DEFAULT_MAX_INLINE_OUTPUTS
from atlas_mcp_py.errors import DownloadFailed, FileRefused, InlineDataError
from atlas_mcp_py.files import (
    AddressGuard,
    SavedFile,
    SavePlan,
    decode_data_url,
    default_stem,
    numbered,
    save_bytes,
    save_video,
)
from atlas_mcp_py.generation.outcome import JobResult

__all__ = ["save_job_result"]


async def save_job_result(
    http: httpx2.AsyncClient,
    result: JobResult,
    plan: SavePlan,
    *,
    max_bytes: int,
    guard: AddressGuard,
    seconds: float | None = None,
    inline_caps: tuple[int, int] = (DEFAULT_MAX_INLINE_OUTPUTS, DEFAULT_MAX_INLINE_BYTES),
) -> SavedFile | None:
    """Save a job's video (or image) per `plan`, recording the outcome on `result`.

    Success sets `local_path` and `size_bytes`. A failed save never loses the job: the
    result keeps its URL and a note says what failed and how to retry. Inline (`data:`)
    image outputs are decoded and written (the second as `<name>-2`, ...), at most
    `inline_caps` (count, total bytes) of them, and replaced in `result` by the saved
    paths, or by a short marker when they could not be saved: the data itself never
    stays in the result. A URL is fetched only where `guard` allows, within `seconds`.
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
        return await _save_inline(result, plan, max_bytes=max_bytes, retry=retry, caps=inline_caps)
    url = result.image_url if what == "image" else result.video_url
    if not url:
        result.notes.append(f"Nothing saved: the job finished without a {what} URL.")
        return None
    stem = default_stem(result.model, result.prediction_id or "job")
    try:
        saved = await save_video(
            http, plan, url, stem=stem, max_bytes=max_bytes, kind=what, guard=guard, seconds=seconds
        )
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
    result: JobResult, plan: SavePlan, *, max_bytes: int, retry: str, caps: tuple[int, int]
) -> SavedFile | None:
    """Decode and write the inline outputs, at most `caps` (count, total bytes) of them
    (see `save_job_result`): the first saved."""
    stem = default_stem(result.model, result.prediction_id or "job")
    first: SavedFile | None = None
    outputs: list[str] = []
    count = written = 0
    capped = False
    for output in result.outputs:
        if not is_data_url(output):
            outputs.append(output)
            continue
        count += 1
        if count > caps[0]:  # not even decoded: each may be up to max_bytes
            capped = True
            outputs.append(inline_marker(output))
            continue
        try:
            image = decode_data_url(output, max_bytes=max_bytes)
            if written + len(image.content) > caps[1]:
                capped = True
                outputs.append(inline_marker(output))
                continue
            written += len(image.content)
            saved = await save_bytes(
                plan if count == 1 else numbered(plan, count),
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
    if capped:
        result.notes.append(
            f"Only the first inline outputs were saved: at most {caps[0]} files and "
            f"{caps[1]} bytes per job (ATLAS_MCP_MAX_INLINE_OUTPUTS, "
            f"ATLAS_MCP_MAX_INLINE_BYTES); {count} came back."
        )
    if result.image_url is not None and is_data_url(result.image_url):
        result.image_url = None
    if result.video_url is not None and is_data_url(result.video_url):
        result.video_url = None
    if first is not None:
        result.local_path = str(first.path)
        result.size_bytes = first.size
    return first
