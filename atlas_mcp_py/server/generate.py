"""atlas_generate_video and atlas_generate_image: plan, confirm, submit once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from atlas_mcp_py.atlas.inputs import format_problem, slots
from atlas_mcp_py.errors import (
    AtlasError,
    InsufficientBalanceError,
    LostSubmission,
    Refused,
)
from atlas_mcp_py.files.saves import OVERWRITE_HINT
from atlas_mcp_py.files.uploads import UploadSource, upload_file
from atlas_mcp_py.jobs.pacing import QueueFn
from atlas_mcp_py.jobs.plan import GenerateArgs, Plan, make_plan
from atlas_mcp_py.jobs.submit import Submitted
from atlas_mcp_py.server.arguments import (
    AllowDuplicate,
    ConfirmCost,
    DryRun,
    MaxWait,
    Overwrite,
    Params,
    within_limits,
)
from atlas_mcp_py.server.client_context import (
    has_progress_token,
    local_frames,
    open_sources,
    plan_destination,
)
from atlas_mcp_py.server.cost import (
    CostApproval,
    ask_cost,
    ask_image_cost,
    balance_text,
    check_cost,
)
from atlas_mcp_py.server.protocol import report_progress
from atlas_mcp_py.server.results import (
    JobResult,
    job_result,
    tool_error,
    tool_result,
)
from atlas_mcp_py.server.state import AppState, state, wait_budget
from atlas_mcp_py.server.status import finish, wait_for_job

__all__ = [
    "atlas_generate_image",
    "atlas_generate_video",
    "dry_run_result",
    "generate",
    "queue_reporter",
    "register",
    "start_job",
    "submitted_result",
    "upload_url",
]


# -- generate helpers ------------------------------------------------------------------


def dry_run_result(plan: Plan) -> JobResult:
    return JobResult(
        prediction_id=None,
        model=plan.model.id,
        status="dry_run",
        estimated_cost_usd=plan.estimated_cost_usd,
        request=plan.request,
        notes=list(plan.notes),
    ).as_kind(plan.kind)


def queue_reporter(
    ctx: Context[Any, Any], started_at: float, running: Callable[[], int]
) -> QueueFn:
    """Progress "queued locally, 2 ahead" while a generate call waits for a slot."""

    async def report(ahead: int) -> None:
        elapsed = max(0.0, time.monotonic() - started_at)
        message = (
            f"queued locally, {ahead} ahead ({running()} requests being sent) · {int(elapsed)} s"
        )
        await report_progress(ctx, round(elapsed, 1), None, message)

    return report


async def start_job(
    stack: AsyncExitStack,
    ctx: Context[Any, Any],
    plan: Plan,
    *,
    sources: Mapping[str, UploadSource],
    upload: Callable[[UploadSource], Awaitable[str]],
    allow_duplicate: bool,
    queue_budget: float | None = None,
) -> Submitted:
    """Submit the planned job (or find the identical earlier one), holding an in-flight
    slot while it is sent. `sources` are the opened local frames, closed here once
    sent. `Refused` and `LostSubmission` become tool errors; an `AtlasError` means the
    job was refused or never sent (the caller explains it)."""
    try:
        digests = {
            name: await anyio.to_thread.run_sync(source.sha256) for name, source in sources.items()
        }
        submitter = state(ctx).submitter
        return await stack.enter_async_context(
            submitter.submit(
                plan,
                upload=lambda name: upload(sources[name]),
                digests=digests,
                allow_duplicate=allow_duplicate,
                on_queue=queue_reporter(ctx, time.monotonic(), lambda: submitter.limit.in_flight),
                queue_budget=queue_budget,
            )
        )
    except (Refused, LostSubmission) as exc:
        raise ToolError(exc.message) from None
    finally:
        for source in sources.values():
            source.close()


def submitted_result(job: Submitted, model: str, kind: str = "video") -> JobResult:
    """The result of a job not waited on (wait=false, or an earlier job already ended)."""
    prediction = job.prediction
    elapsed = 0.0
    if job.duplicate_of is not None:
        elapsed = prediction.predict_time or time.time() - job.duplicate_of.created_at
    result = job_result(prediction, model=model, elapsed=elapsed, notes=job.notes, kind=kind)
    result.estimated_cost_usd = job.estimated_cost_usd
    return result


def _check_files(plan: Plan, sources: Mapping[str, UploadSource]) -> None:
    """Refuse (before any upload) a local file its parameter does not take: a WebP
    frame for a model that takes JPG and PNG, an image where a video goes, a file over
    the parameter's `x-max-size-mb`."""
    for slot, source in sources.items():
        fmt = source.path.suffix.lstrip(".") or None
        problem = format_problem(plan.param_of(slot), source.media.kind, fmt, source.size)
        if problem is not None:
            for opened in sources.values():
                opened.close()
            raise ToolError(
                f"{plan.model.id}: {problem} ({source.filename} given as "
                f"`{plan.label(slot)}`). Nothing was sent."
            )


IMAGE_PARAMS_HINT: dict[str, Any] = {"properties": {"aspect_ratio": {"type": "string"}}}
"""`PARAMS_HINT` for image models: the one parameter most of them share."""

IMAGE_OVERWRITE_HINT = (
    "give another save_to, or none and then replace the file with atlas_check_status "
    "(the prediction_id, this save_to and overwrite: true)"
)


async def atlas_generate_video(
    ctx: Context[AppState],
    prompt: Annotated[str, Field(min_length=1, description="what the video shows")],
    model: Annotated[str | None, Field(description="model id; default picks by image")] = None,
    image: Annotated[
        str | None,
        Field(description="first frame: https URL or local path"),
    ] = None,
    end_image: Annotated[str | None, Field(description="last frame, like image")] = None,
    duration: Annotated[int | None, Field(description="seconds, e.g. 6 or 10")] = None,
    resolution: Annotated[str | None, Field(description="e.g. 720p (if the model has one)")] = None,
    params: Params = None,
    wait: Annotated[bool, Field(description="wait for the video (false: return the id)")] = True,
    max_wait_seconds: MaxWait = None,
    dry_run: DryRun = False,
    save_to: Annotated[str | None, Field(description="save video here (in roots)")] = None,
    overwrite: Overwrite = False,
    allow_duplicate: AllowDuplicate = False,
    confirm_cost: ConfirmCost = False,
    approval: Annotated[ElicitationResult[CostApproval], Resolve(ask_cost)] = None,  # type: ignore[assignment]
) -> Annotated[CallToolResult, JobResult]:
    """Generate a video (billed per job; never twice). Waits with progress and returns
    video_url; one still running at the wait limit returns its prediction_id for
    atlas_check_status."""
    args = GenerateArgs(model, prompt, image, end_image, duration, resolution, params)
    return await generate(
        ctx,
        args,
        wait,
        max_wait_seconds,
        dry_run,
        save_to,
        overwrite,
        allow_duplicate,
        approval,
    )


async def atlas_generate_image(
    ctx: Context[AppState],
    prompt: Annotated[str, Field(min_length=1, description="what the image shows")],
    model: Annotated[str | None, Field(description="image model id")] = None,
    image: Annotated[str | None, Field(description="to edit: URL or local path")] = None,
    params: Annotated[
        dict[str, Any] | None,
        Field(description="other model parameters", json_schema_extra=IMAGE_PARAMS_HINT),
    ] = None,
    wait: Annotated[bool, Field(description="false: return the id at once")] = True,
    max_wait_seconds: MaxWait = None,
    dry_run: DryRun = False,
    save_to: Annotated[str | None, Field(description="save image here (in roots)")] = None,
    allow_duplicate: AllowDuplicate = False,
    confirm_cost: ConfirmCost = False,
    approval: Annotated[ElicitationResult[CostApproval], Resolve(ask_image_cost)] = None,  # type: ignore[assignment]
) -> Annotated[CallToolResult, JobResult]:
    """Generate an image (billed per job; never twice). Its image_url or local_path
    works as `image` in atlas_generate_video."""
    args = GenerateArgs(model, prompt, image, params=params, kind="image")
    return await generate(
        ctx,
        args,
        wait,
        max_wait_seconds,
        dry_run,
        save_to,
        False,  # a name that exists is refused; atlas_check_status may overwrite it
        allow_duplicate,
        approval,
    )


async def generate(
    ctx: Context[AppState],
    args: GenerateArgs,
    wait: bool,
    max_wait_seconds: float | None,
    dry_run: bool,
    save_to: str | None,
    overwrite: bool,
    allow_duplicate: bool,
    approval: ElicitationResult[CostApproval],
) -> CallToolResult:
    """One generate call, video or image (`args.kind`): plan, confirm, submit once, wait.
    Over 60 lines: the steps of a paid call in their order, each refusal where it happens."""
    app = state(ctx)
    base_url = app.settings.base_url
    frames_and_save = {"image": args.image, "end_image": args.end_image, "save_to": save_to}
    within_limits(prompt=args.prompt, paths=frames_and_save)
    try:
        save = await plan_destination(ctx, app.settings, app.roots, save_to, overwrite)
    except ToolError as exc:  # the image tool has no `overwrite`: say what it can do
        if args.kind != "image" or OVERWRITE_HINT not in str(exc):
            raise
        raise ToolError(str(exc).replace(OVERWRITE_HINT, IMAGE_OVERWRITE_HINT)) from None
    try:
        plan = await make_plan(app.client, args, app.settings)
    except Refused as exc:
        raise ToolError(exc.message) from None
    except AtlasError as exc:
        raise tool_error(exc, base_url=base_url) from None
    if dry_run:
        return tool_result(dry_run_result(plan))
    check_cost(approval)
    local = local_frames({plan.label(s): v for s, v in slots(plan.body, plan.media).items()})
    opened = await open_sources(ctx, app.settings, app.roots, local)
    _check_files(plan, dict(zip(plan.local, opened, strict=True)))
    budget = wait_budget(app.settings, max_wait_seconds, has_progress_token(ctx))
    called = time.monotonic()  # the budget covers the local queue and the wait
    async with AsyncExitStack() as stack:
        try:
            job = await start_job(
                stack,
                ctx,
                plan,
                sources=dict(zip(plan.local, opened, strict=True)),
                upload=lambda source: upload_url(app, source),
                allow_duplicate=allow_duplicate,
                queue_budget=budget,
            )
        except AtlasError as exc:
            sent = "The job was not created; nothing was billed. "
            balance = None
            if isinstance(exc, InsufficientBalanceError):
                balance = await balance_text(app.client)
            raise tool_error(exc, base_url=base_url, sent=sent, balance=balance) from None
        if not wait or job.prediction.state != "processing":
            return await finish(app, submitted_result(job, plan.model.id, args.kind), save, ctx)
        return await wait_for_job(
            app,
            ctx,
            job.prediction,
            model=plan.model.id,
            started_at=job.started_at,
            max_wait_seconds=max(0.0, budget - (time.monotonic() - called)),
            # a new job's age counts from Atlas's answer, just in; an earlier one's
            # from its submission
            origin=time.monotonic() if job.duplicate_of is None else None,
            save=save,
            notes=job.notes,
            cost=job.estimated_cost_usd,
            kind=args.kind,
        )


async def upload_url(app: AppState, source: UploadSource) -> str:
    """Upload an opened local frame (reusing a recent upload of the same bytes): its URL."""
    return (await upload_file(app.client, source, app.uploads))[0].url


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_generate_video` and `atlas_generate_image`."""
    for tool, title in (
        (atlas_generate_video, "Generate a video with Atlas"),
        (atlas_generate_image, "Generate an image"),
    ):
        annotations = ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        )
        mcp.add_tool(tool, title=title, annotations=annotations)
