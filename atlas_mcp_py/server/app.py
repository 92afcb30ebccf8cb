"""build_server: the MCP server, its lifespan and the registered tools."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

import httpx2
from mcp.server.mcpserver import Context, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp.types import (
    CallToolResult,
    InputRequiredResult,
    ToolAnnotations,
)
from mcp.types import Tool as MCPTool
from pydantic import Field, ValidationError

from atlas_mcp_py import __version__
from atlas_mcp_py.atlas.capabilities import model_takes
from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.inputs import slots
from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.atlas.outputs import has_inline, kind_of_outputs, stored_outputs
from atlas_mcp_py.atlas.transport import paced_transport
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    AtlasError,
    FileRefused,
    InsufficientBalanceError,
    NotFoundError,
    Refused,
)
from atlas_mcp_py.files.saves import OVERWRITE_HINT, SavePlan, plan_save
from atlas_mcp_py.files.uploads import UploadCache, UploadResult, UploadSource, upload_file
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.plan import GenerateArgs
from atlas_mcp_py.jobs.submit import Submitter
from atlas_mcp_py.jobs.wait import PollSchedule, wait_for_prediction
from atlas_mcp_py.server.arguments import (
    refused_arguments,
    within_limits,
)
from atlas_mcp_py.server.catalog import _matches
from atlas_mcp_py.server.client_context import (
    has_progress_token,
    local_frames,
    open_sources,
    plan_destination,
    request_roots,
    upload_progress,
)
from atlas_mcp_py.server.cost import (
    CostApproval,
    ask_cost,
    ask_image_cost,
    balance_text,
    check_cost,
)
from atlas_mcp_py.server.generate import (
    AllowDuplicate,
    ConfirmCost,
    DryRun,
    MaxWait,
    Overwrite,
    Params,
    _check_files,
    dry_run_result,
    start_job,
    submitted_result,
)
from atlas_mcp_py.server.ledger_tools import expired, expiry_note, register_job_tools
from atlas_mcp_py.server.protocol import report_progress, shape_for_version
from atlas_mcp_py.server.results import (
    JobResult,
    ModelList,
    crash_text,
    elapsed_since,
    explain,
    job_result,
    summarise_model,
    tool_result,
)
from atlas_mcp_py.server.state import AppState, default_roots, wait_budget
from atlas_mcp_py.server.status import checked_elapsed, record_check, save_job_result
from atlas_mcp_py.server.toolschema import listed_tool

__all__ = [
    "build_server",
]

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Make videos with Atlas Cloud. Local image -> atlas_upload_media (or pass the path as "
    "`image`); no image yet -> atlas_generate_image makes one; atlas_generate_video waits "
    "with progress and returns the video URL; a job still running when the wait ends comes "
    "back with its prediction_id: finish it with atlas_check_status."
)

IMAGE_PARAMS_HINT: dict[str, Any] = {"properties": {"aspect_ratio": {"type": "string"}}}
"""`PARAMS_HINT` for image models: the one parameter most of them share."""

IMAGE_OVERWRITE_HINT = (
    "give another save_to, or none and then replace the file with atlas_check_status "
    "(the prediction_id, this save_to and overwrite: true)"
)


class AtlasMCPServer(MCPServer[AppState]):
    """MCPServer whose `tools/list` carries compact schemas and one-line descriptions."""

    _live: list[AppState] | None = None
    _shutting_down: bool = False
    over_http: bool = False
    """Served over HTTP (`build_server(..., over_http=True)`): client roots grant nothing."""

    @contextmanager
    def serving(self, app: AppState) -> Iterator[AppState]:
        """Registers the lifespan's state so `begin_shutdown` can reach its waits."""
        if self._shutting_down:  # stopped while starting: no wait may begin
            app.stopping.set()
        self._live = [*(self._live or []), app]
        try:
            yield app
        finally:
            self._live = [a for a in self._live if a is not app]

    def begin_shutdown(self) -> None:
        """End every in-flight wait now with its hand-off result (call on the event loop);
        a lifespan that starts afterwards starts stopped."""
        self._shutting_down = True
        for app in self._live or []:
            app.stopping.set()

    async def serve_streams(
        self,
        read_stream: ReadStream[SessionMessage | Exception],
        write_stream: WriteStream[SessionMessage],
    ) -> None:
        """Serve one client over a pair of message streams until `read_stream` ends; the
        lifespan runs around it (stdio_transport.serve_stdio relays stdin/stdout to these)."""
        lowlevel = self._lowlevel_server
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    async def list_tools(self) -> list[MCPTool]:
        return [_returned_fields(listed_tool(tool)) for tool in await super().list_tools()]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """The SDK's call, with refused arguments and crashes told in plain words."""
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            raise UnexpectedToolError(crash_text(name)) from exc.__cause__
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            tools = {tool.name: tool for tool in await self.list_tools()}
            schema = tools[name].input_schema if name in tools else {}
            errors = exc.__cause__.errors(include_url=False, include_input=False)
            raise ToolError(refused_arguments(name, errors, schema)) from exc.__cause__


_NOT_RETURNED = {
    "atlas_generate_video": ("image_url",),
    "atlas_generate_image": ("video_url",),
    "atlas_check_status": ("request",),
}
"""Result fields a tool never returns (a generate tool the other kind's URL, the status
check a dry run's request): its listed output schema leaves them out."""


def _returned_fields(tool: MCPTool) -> MCPTool:
    schema = tool.output_schema
    never = _NOT_RETURNED.get(tool.name)
    if never is None or not isinstance(schema, dict) or "properties" not in schema:
        return tool
    properties = {k: v for k, v in schema["properties"].items() if k not in never}
    return tool.model_copy(update={"output_schema": {**schema, "properties": properties}})


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    over_http: bool = False,
) -> AtlasMCPServer:
    """The MCP server with every tool; `transport` lets tests swap the HTTP layer.

    `over_http`: the server will be served over streamable HTTP (the HTTP transport says
    so; it refuses a server built without it), where its clients are remote: their roots
    never grant access to this machine's files, only ATLAS_MCP_ROOTS does.
    """

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        book = await JobBook.open(Ledger.default_path(settings.resolved_state_dir))
        try:
            # default: the HTTP stack is built by the first request, not at start-up
            async with AtlasClient(settings, transport=paced_transport(transport)) as client:
                app = AppState(
                    settings=settings,
                    client=client,
                    roots=default_roots(settings, over_http=over_http),
                    book=book,
                    submitter=Submitter(settings, client, book),
                    uploads=UploadCache(settings.upload_reuse_seconds),
                )
                with mcp.serving(app):
                    yield app
        finally:
            book.close()

    mcp = AtlasMCPServer(
        "atlas-mcp-py",
        title="Atlas Cloud video",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        middleware=[shape_for_version],
    )
    mcp.over_http = over_http

    def state(ctx: Context[AppState]) -> AppState:
        return ctx.request_context.lifespan_context

    def fail(
        app: AppState, exc: AtlasError, sent: str = "", balance: str | None = None
    ) -> ToolError:
        logger.info("tool error: %s", exc)
        return ToolError(explain(exc, base_url=app.settings.base_url, sent=sent, balance=balance))

    @mcp.tool(
        title="List Atlas models",
        annotations=ToolAnnotations(
            read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def atlas_list_models(
        ctx: Context[AppState],
        type: Annotated[
            Literal["video", "image", "audio", "text", "all"], Field(description="model kind")
        ] = "video",
        query: Annotated[str | None, Field(description="keyword in id, name or tags")] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="most models returned")] = 20,
    ) -> ModelList:
        """List Atlas models: price (USD), inputs (text/image/video) and frame parameters.
        Use an id as `model` in generate."""
        app = state(ctx)
        try:
            models = await app.client.list_models()
        except AtlasError as exc:
            raise fail(app, exc) from None
        matches = [m for m in models if _matches(m, type, query)]
        takes = await model_takes(app.client, matches[:limit])
        return ModelList(
            models=[
                summarise_model(m, takes[m.id].sources, takes[m.id].frames) for m in matches[:limit]
            ],
            total=len(matches),
        )

    @mcp.tool(
        title="Upload a local file to Atlas",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def atlas_upload_media(
        ctx: Context[AppState],
        path: Annotated[str, Field(description="image/video/audio file inside the workspace")],
    ) -> UploadResult:
        """Upload a local media file; returns a temporary https URL usable as `image`."""
        app = state(ctx)
        within_limits(paths={"path": path})
        return await _upload(app, ctx, path)

    async def _upload(app: AppState, ctx: Context[AppState], raw_path: str) -> UploadResult:
        (source,) = await open_sources(ctx, app.settings, app.roots, {"path": raw_path})
        try:
            app.settings.require_api_key()
            progress = upload_progress(ctx, source.filename)
            return (await upload_file(app.client, source, app.uploads, on_progress=progress))[0]
        except AtlasError as exc:
            raise fail(app, exc) from None
        finally:
            source.close()

    async def _finish(
        app: AppState, result: JobResult, save: SavePlan | None, ctx: Context[AppState]
    ) -> CallToolResult:
        record = None
        if result.status in ("completed", "failed") and result.prediction_id:
            record = await app.book.get(result.prediction_id)
        if result.status == "failed" and record is not None and record.request_id:
            result.notes.append(f"Atlas request id of the submission: {record.request_id}.")
        if save is None and has_inline(result.outputs):
            # an image that came back as data: into a file, never into the context
            save = await _inline_destination(app, ctx, result)
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

    async def _inline_destination(
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

    async def _kind_of(app: AppState, model: str, outputs: list[str]) -> str:
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

    async def _wait(
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
            budget=budget,
            started_at=started_at,
            schedule=PollSchedule(app.settings.poll_min_seconds, app.settings.poll_max_seconds),
            heartbeat=app.settings.heartbeat_seconds,
            on_progress=progress if has_progress else None,
            estimate=durations.estimate(),
            initial=prediction,
            stop=app.stopping,
            on_update=record,
            origin=origin,
            durations=durations,
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
        kind = kind or await _kind_of(app, model, last.outputs)
        result = job_result(last, model=model, elapsed=outcome.elapsed, notes=notes, kind=kind)
        result.estimated_cost_usd = cost
        return await _finish(app, result, save, ctx)

    @mcp.tool(
        title="Generate a video with Atlas",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
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
        resolution: Annotated[
            str | None, Field(description="e.g. 720p (if the model has one)")
        ] = None,
        params: Params = None,
        wait: Annotated[
            bool, Field(description="wait for the video (false: return the id)")
        ] = True,
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
        return await _generate(
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

    @mcp.tool(
        title="Generate an image",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
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
        return await _generate(
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

    async def _generate(
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
        """One generate call, video or image (`args.kind`): plan, confirm, submit once, wait."""
        app = state(ctx)
        frames_and_save = {"image": args.image, "end_image": args.end_image, "save_to": save_to}
        within_limits(prompt=args.prompt, paths=frames_and_save)
        try:
            save = await plan_destination(ctx, app.settings, app.roots, save_to, overwrite)
        except ToolError as exc:  # the image tool has no `overwrite`: say what it can do
            if args.kind != "image" or OVERWRITE_HINT not in str(exc):
                raise
            raise ToolError(str(exc).replace(OVERWRITE_HINT, IMAGE_OVERWRITE_HINT)) from None
        try:
            plan = await app.submitter.plan(args)
        except Refused as exc:
            raise ToolError(exc.message) from None
        except AtlasError as exc:
            raise fail(app, exc) from None
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
                    upload=lambda source: _upload_url(app, source),
                    allow_duplicate=allow_duplicate,
                    queue_budget=budget,
                )
            except AtlasError as exc:
                sent = "The job was not created; nothing was billed. "
                balance = None
                if isinstance(exc, InsufficientBalanceError):
                    balance = await balance_text(app.client)
                raise fail(app, exc, sent=sent, balance=balance) from None
            if not wait or job.prediction.state != "processing":
                return await _finish(
                    app, submitted_result(job, plan.model.id, args.kind), save, ctx
                )
            return await _wait(
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

    async def _upload_url(app: AppState, source: UploadSource) -> str:
        return (await upload_file(app.client, source, app.uploads))[0].url

    @mcp.tool(
        title="Check an Atlas job",
        annotations=ToolAnnotations(  # not read-only: save_to writes a file
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def atlas_check_status(
        ctx: Context[AppState],
        prediction_id: Annotated[str, Field(min_length=1, description="from generate")],
        wait: Annotated[bool, Field(description="wait for the end, with progress")] = False,
        max_wait_seconds: Annotated[
            float | None, Field(ge=0, description="cap on the wait")
        ] = None,
        save_to: Annotated[str | None, Field(description="save result here (in roots)")] = None,
        overwrite: Overwrite = False,
    ) -> Annotated[CallToolResult, JobResult]:
        """Status of a video or image job; its URL once completed. wait=true waits like
        generate."""
        app = state(ctx)
        within_limits(prediction_id=prediction_id, paths={"save_to": save_to})
        save = await plan_destination(ctx, app.settings, app.roots, save_to, overwrite)
        try:
            prediction = await app.client.get_prediction(prediction_id)
        except NotFoundError as exc:
            known = await app.book.get(prediction_id)
            gone = expiry_note(known, saved=False) if known and expired(known) else None
            if gone is not None:
                raise ToolError(f"{gone} Atlas no longer knows the job (404).") from None
            raise fail(app, exc) from None
        except AtlasError as exc:
            raise fail(app, exc) from None
        notes: list[str] = []
        prediction, record = await record_check(
            app.book, prediction, api_root=app.settings.base_url, notes=notes
        )
        model = prediction.model or "unknown"
        cost = record.estimated_cost_usd if record is not None else None
        if wait and prediction.state == "processing":
            return await _wait(
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
        kind = await _kind_of(app, model, prediction.outputs)
        elapsed = checked_elapsed(prediction)
        result = job_result(prediction, model=model, elapsed=elapsed, kind=kind)
        result.notes, result.estimated_cost_usd = notes, cost
        return await _finish(app, result, save, ctx)

    register_job_tools(mcp)
    return mcp
