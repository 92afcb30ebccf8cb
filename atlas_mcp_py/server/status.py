"""atlas_check_status and the wait/finish every job result goes through."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.atlas.outputs import (
    has_inline,
    inline_marker,
    is_data_url,
    kind_of_outputs,
    stored_outputs,
)
from atlas_mcp_py.errors import (
    AtlasError,
    DownloadFailed,
    FileRefused,
    InlineDataError,
    NotFoundError,
)
from atlas_mcp_py.files.downloads import save_video
from atlas_mcp_py.files.media import decode_data_url
from atlas_mcp_py.files.saves import (
    SavedFile,
    SavePlan,
    _numbered,
    default_stem,
    plan_save,
    save_bytes,
)
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.records import JobRecord
from atlas_mcp_py.jobs.wait import PollSchedule, WaitSpec, wait_for_prediction
from atlas_mcp_py.server.arguments import Overwrite, within_limits
from atlas_mcp_py.server.client_context import (
    has_progress_token,
    plan_destination,
    request_roots,
)
from atlas_mcp_py.server.ledger_tools import expired, expiry_note
from atlas_mcp_py.server.protocol import report_progress
from atlas_mcp_py.server.results import (
    JobResult,
    elapsed_since,
    explain,
    job_result,
    tool_error,
    tool_result,
)
from atlas_mcp_py.server.state import AppState, state, wait_budget

__all__ = [
    "atlas_check_status",
    "checked_elapsed",
    "finish",
    "inline_destination",
    "kind_of",
    "record_check",
    "register",
    "save_job_result",
    "wait_for_job",
]


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


async def record_check(
    book: JobBook, prediction: Prediction, *, api_root: str, notes: list[str]
) -> tuple[Prediction, JobRecord | None]:
    """Note a status `atlas_check_status` saw, and fill what Atlas left out (model,
    created time) from the ledger, which also gives the estimated cost."""
    record = await book.get(prediction.id)
    if record is not None:
        update: dict[str, Any] = {}
        if not prediction.model:
            update["model"] = record.model
        if not prediction.created_at:
            update["created_at"] = str(record.created_at)
        prediction = prediction.model_copy(update=update)
    created = record.created_at if record is not None else None
    checked = prediction
    await book.run(
        notes,
        lambda ledger: ledger.remember(checked, api_root=api_root, created_at=created),
    )
    book.add_warning(notes)
    return prediction, record


def checked_elapsed(prediction: Prediction) -> float | None:
    return prediction.predict_time or elapsed_since(prediction.created_at)


async def atlas_check_status(
    ctx: Context[AppState],
    prediction_id: Annotated[str, Field(min_length=1, description="from generate")],
    wait: Annotated[bool, Field(description="wait for the end, with progress")] = False,
    max_wait_seconds: Annotated[float | None, Field(ge=0, description="cap on the wait")] = None,
    save_to: Annotated[str | None, Field(description="save result here (in roots)")] = None,
    overwrite: Overwrite = False,
) -> Annotated[CallToolResult, JobResult]:
    """Status of a video or image job; its URL once completed. wait=true waits like
    generate."""
    app = state(ctx)
    base_url = app.settings.base_url
    within_limits(prediction_id=prediction_id, paths={"save_to": save_to})
    save = await plan_destination(ctx, app.settings, app.roots, save_to, overwrite)
    try:
        prediction = await app.client.get_prediction(prediction_id)
    except NotFoundError as exc:
        known = await app.book.get(prediction_id)
        gone = expiry_note(known, saved=False) if known and expired(known) else None
        if gone is not None:
            raise tool_error(f"{gone} Atlas no longer knows the job (404).") from None
        raise tool_error(exc, base_url=base_url) from None
    except AtlasError as exc:
        raise tool_error(exc, base_url=base_url) from None
    notes: list[str] = []
    prediction, record = await record_check(app.book, prediction, api_root=base_url, notes=notes)
    model = prediction.model or "unknown"
    cost = record.estimated_cost_usd if record is not None else None
    if wait and prediction.state == "processing":
        return await wait_for_job(
            app,
            ctx,
            prediction,
            model=model,
            started_at=None,
            max_wait_seconds=max_wait_seconds,
            save=save,
            notes=notes,
            cost=cost,
        )
    kind = await kind_of(app, model, prediction.outputs)
    elapsed = checked_elapsed(prediction)
    result = job_result(prediction, model=model, elapsed=elapsed, kind=kind)
    result.notes, result.estimated_cost_usd = notes, cost
    return await finish(app, result, save, ctx)


async def wait_for_job(
    app: AppState,
    ctx: Context[AppState],
    prediction: Prediction,
    *,
    model: str,
    started_at: float | None,
    max_wait_seconds: float | None,
    origin: float | None = None,
    save: SavePlan | None = None,
    notes: list[str] | None = None,
    cost: float | None = None,
    kind: str | None = None,
) -> CallToolResult:
    """Wait on a running job (progress, ledger updates, shutdown) and finish its result.
    Over 60 lines: the one wait every tool shares, its hooks and hand-off notes together."""
    has_progress = has_progress_token(ctx)
    budget = wait_budget(app.settings, max_wait_seconds, has_progress)
    if started_at is None:
        known = elapsed_since(prediction.created_at)
        started_at = time.monotonic() - (known or 0.0)

    async def progress(value: float, total: float | None, message: str) -> None:
        await report_progress(ctx, value, total, message)

    async def record(seen: Prediction) -> None:
        # the ledger needs the end (outputs, error); created -> queued -> processing
        # would each cost a synced write and change nothing it shows
        if seen.state != "processing":
            await app.book.update(seen)

    durations = await app.durations_of(model)
    outcome = await wait_for_prediction(
        lambda: app.client.get_prediction(prediction.id),
        WaitSpec(
            budget=budget,
            started_at=started_at,
            schedule=PollSchedule(app.settings.poll_min_seconds, app.settings.poll_max_seconds),
            heartbeat=app.settings.heartbeat_seconds,
            estimate=durations.estimate(),
            origin=origin,
            durations=durations,
        ),
        on_progress=progress if has_progress else None,
        initial=prediction,
        stop=app.stopping,
        on_update=record,
    )
    last = outcome.prediction or prediction
    notes = list(notes or [])
    app.book.add_warning(notes)
    if outcome.stopped:
        notes.append("The MCP server is shutting down; the job goes on at Atlas.")
    if outcome.timed_out and outcome.poll_error is not None:
        notes.append(
            f"The last status check failed ({explain(outcome.poll_error)}); "
            "the job itself may be fine."
        )
    kind = kind or await kind_of(app, model, last.outputs)
    result = job_result(last, model=model, elapsed=outcome.elapsed, notes=notes, kind=kind)
    result.estimated_cost_usd = cost
    return await finish(app, result, save, ctx)


async def finish(
    app: AppState, result: JobResult, save: SavePlan | None, ctx: Context[AppState]
) -> CallToolResult:
    """A job's result as the tool returns it: saved where asked (inline images always,
    never into the context), the ledger's request id and expiry notes added."""
    record = None
    if result.status in ("completed", "failed") and result.prediction_id:
        record = await app.book.get(result.prediction_id)
    if result.status == "failed" and record is not None and record.request_id:
        result.notes.append(f"Atlas request id of the submission: {record.request_id}.")
    if save is None and has_inline(result.outputs):
        # an image that came back as data: into a file, never into the context
        save = await inline_destination(app, ctx, result)
    if save is not None and not (record is not None and expired(record)):
        limit = app.settings.max_download_bytes
        await save_job_result(app.client.http, result, save, max_bytes=limit)
        if result.local_path and result.prediction_id:
            await app.book.set_local_path(result.prediction_id, result.local_path)
    if has_inline(result.outputs):  # nowhere to save it: still never hand the data on
        result.outputs = stored_outputs(result.outputs)
        result.image_url = None
    note = expiry_note(record, saved=bool(result.local_path)) if record else None
    if note is not None:
        result.notes.append(note)
    return tool_result(result)


async def inline_destination(
    app: AppState, ctx: Context[AppState], result: JobResult
) -> SavePlan | None:
    """The first root, for inline outputs when no save_to was given."""
    roots = await request_roots(ctx, app.settings, app.roots)
    try:
        return plan_save(roots, "./")
    except FileRefused as exc:
        result.notes.append(
            f"The image came back inline and could not be saved into the first root "
            f"({exc}); call atlas_check_status with save_to to save it."
        )
        return None


async def kind_of(app: AppState, model: str, outputs: list[str]) -> str:
    """Is a job checked by id an image or a video job: its outputs tell, else the
    catalog's type of its model."""
    found = kind_of_outputs(outputs)
    if found is not None:
        return found
    try:
        info = await app.client.get_model(model)
    except AtlasError:
        return "video"
    return "image" if info is not None and info.type == "image" else "video"


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_check_status`."""
    mcp.add_tool(
        atlas_check_status,
        title="Check an Atlas job",
        annotations=ToolAnnotations(  # not read-only: save_to writes a file
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
