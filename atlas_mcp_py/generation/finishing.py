"""Finishing a job's result: saved where asked, the ledger's request id and the note on
when Atlas stops serving the output.

Every result of a job goes through `finish`: a new one, one waited on, one checked by id.
An image that came back inline (as data, not a URL) is always written to a file, never
handed on: a model's context is no place for megabytes of base64.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from atlas_mcp_py.atlas import has_inline, kind_of_outputs, stored_outputs
from atlas_mcp_py.errors import FileRefused
from atlas_mcp_py.files import AddressGuard, SavePlan, plan_save
from atlas_mcp_py.generation.hooks import Hooks
from atlas_mcp_py.generation.outcome import JobResult
from atlas_mcp_py.generation.saving import save_job_result
from atlas_mcp_py.generation.services import Services, wait_budget
from atlas_mcp_py.jobs import JobRecord

__all__ = ["expired", "expiry_note", "finish", "inline_destination"]


async def finish(
    services: Services,
    hooks: Hooks,
    result: JobResult,
    save: SavePlan | None,
    *,
    until: float | None = None,
) -> JobResult:
    """A job's result as the caller gets it: saved where asked (inline images always,
    never into the context), the ledger's request id and expiry notes added. A download
    ends by `until` (`hooks.clock()`; default: the call's wait budget from now)."""
    book = services.book
    record = None
    if result.status in ("completed", "failed") and result.prediction_id:
        record = await book.get(result.prediction_id)
    if result.status == "failed" and record is not None and record.request_id:
        result.notes.append(f"Atlas request id of the submission: {record.request_id}.")
    if save is None and has_inline(result.outputs):
        # an image that came back as data: into a file, never into the context
        save = await inline_destination(hooks, result)
    if save is not None and not (record is not None and expired(record)):
        settings = services.settings
        if until is None:
            until = hooks.clock() + wait_budget(
                settings, None, hooks.has_progress, hooks.time_limit
            )
        await save_job_result(
            services.client.http,
            result,
            save,
            max_bytes=settings.max_download_bytes,
            guard=AddressGuard.for_base_url(settings.base_url, settings.download_hosts),
            seconds=max(0.0, until - hooks.clock()),
            inline_caps=(settings.max_inline_outputs, settings.max_inline_bytes),
        )
        if result.local_path and result.prediction_id:
            await book.set_local_path(result.prediction_id, result.local_path)
    if has_inline(result.outputs):  # nowhere to save it: still never hand the data on
        result.outputs = stored_outputs(result.outputs)
        result.image_url = None
    note = expiry_note(record, saved=bool(result.local_path)) if record else None
    if note is not None:
        result.notes.append(note)
    return result


async def inline_destination(hooks: Hooks, result: JobResult) -> SavePlan | None:
    """The first root, for inline outputs when no save_to was given."""
    roots = await hooks.roots()
    try:
        return plan_save(roots, "./")
    except FileRefused as exc:
        result.notes.append(
            f"The image came back inline and could not be saved into the first root "
            f"({exc}); call atlas_check_status with save_to to save it."
        )
        return None


def expired(record: JobRecord, now: float | None = None) -> bool:
    """Has Atlas stopped serving this job's outputs?"""
    now = time.time() if now is None else now
    return record.expires_at is not None and now >= record.expires_at


def expiry_note(record: JobRecord, *, saved: bool, now: float | None = None) -> str | None:
    """What a result says about a completed job's video URL expiring."""
    if record.state != "completed" or record.expires_at is None or not record.outputs:
        return None
    when = datetime.fromtimestamp(record.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = "image" if kind_of_outputs(record.outputs) == "image" else "video"
    if expired(record, now):
        where = f" The copy saved at {record.local_path} is yours." if record.local_path else ""
        return (
            f"The {what} URL expired on {when} (Atlas keeps outputs for a limited time): it "
            f"can no longer be downloaded.{where}"
        )
    if saved or record.local_path:
        return None
    return f"The {what} URL expires on {when}: pass save_to to keep a copy before then."
