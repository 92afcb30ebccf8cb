"""The MCP side of paid-job safety: `atlas_list_jobs`, the `atlas://jobs/{id}` resource,
the cost confirmation (MCP elicitation), and the generate helpers `server.py` calls.

Cost confirmation uses the SDK's resolver pattern: the generate tool has a hidden
parameter `Annotated[ElicitationResult[CostApproval], Resolve(ask_cost)]`. `ask_cost`
runs before the tool body; it returns a plain `CostCheck` when no question is needed
(no limit set, under the limit, dry run, `confirm_cost`) and an `Elicit(...)` only when
the estimate is above `ATLAS_MCP_CONFIRM_ABOVE_USD`. The SDK then asks in whichever way
the connection's protocol era supports (an `elicitation/create` request on 2025-era
connections, an `InputRequiredResult` round trip on 2026-07-28), so the condition on the
price lives in one plain function. A client that declared no elicitation capability is
never asked (the SDK would fail the call with a protocol error): the tool answers with
an error that says to pass `confirm_cost: true` once the person agrees.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, cast

import anyio
import anyio.to_thread
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from atlas_mcp_py.client import AtlasClient
from atlas_mcp_py.errors import AtlasError
from atlas_mcp_py.files import UploadSource
from atlas_mcp_py.images import is_inline_marker, kind_of_outputs
from atlas_mcp_py.job_records import STALE_SUBMITTING_SECONDS
from atlas_mcp_py.jobs import JobBook, JobRecord, JobState
from atlas_mcp_py.models import Prediction
from atlas_mcp_py.pacing import QueueFn
from atlas_mcp_py.protocol import report_progress
from atlas_mcp_py.results import JobResult, elapsed_since, job_result
from atlas_mcp_py.submission import (
    GenerateArgs,
    OutcomeUnknown,
    Plan,
    Refused,
    Submitted,
    Submitter,
)

__all__ = [
    "CostApproval",
    "CostCheck",
    "JobList",
    "JobSummary",
    "ask_cost",
    "ask_image_cost",
    "balance_text",
    "check_cost",
    "checked_elapsed",
    "dry_run_result",
    "expired",
    "expiry_note",
    "queue_reporter",
    "record_check",
    "register_job_tools",
    "start_job",
    "submitted_result",
]

MODERN_PROTOCOL = "2026-07-28"
BALANCE_WAIT_SECONDS = 5.0
"""How long a refusal or a question waits for the balance before going without it."""


class HasJobs(Protocol):
    """What these helpers need from the server's lifespan state."""

    book: JobBook
    submitter: Submitter


def _app(ctx: Context[Any, Any]) -> HasJobs:
    return cast(HasJobs, ctx.request_context.lifespan_context)


# -- atlas_list_jobs and the job resource -------------------------------------------------


class JobSummary(BaseModel):
    """One recorded job as `atlas_list_jobs` shows it."""

    prediction_id: str | None
    status: str
    model: str
    created: str | None
    prompt: str
    cost_usd: float | None = None
    video_url: str | None = None
    image_url: str | None = None
    """An image job's URL (its `video_url` stays empty)."""
    local_path: str | None = None
    expires: str | None = None
    """When Atlas stops serving the video (`expired: ...` once it has)."""
    error: str | None = None
    """The failure, or why the outcome is unknown."""


class JobList(BaseModel):
    """The output of `atlas_list_jobs`. Each job is a `JobSummary` (declared as a plain
    object: tools/list is read in every conversation, and the text carries the fields)."""

    jobs: list[dict[str, Any]]
    ledger: str


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def shown_state(record: JobRecord, now: float | None = None) -> str:
    """The state to show: a `submitting` row of a process that died is `unknown`."""
    now = time.time() if now is None else now
    if record.state == "submitting" and now - record.updated_at > STALE_SUBMITTING_SECONDS:
        return "unknown"
    return record.state


def summarise_job(record: JobRecord) -> JobSummary:
    state = shown_state(record)
    error = None
    if state == "failed":
        error = record.error
    elif state == "unknown":
        error = record.note or "the request may have created a job, but no id came back"
    return JobSummary(
        prediction_id=record.prediction_id,
        status=state,
        model=record.model,
        created=_iso(record.created_at),
        prompt=record.prompt,
        cost_usd=record.estimated_cost_usd,
        **output_urls(record),
        local_path=record.local_path,
        expires=_expires_text(record),
        error=error,
    )


def output_urls(record: JobRecord) -> dict[str, str | None]:
    """`video_url`, or `image_url` for an image job, of a completed job (an inline image,
    which the ledger does not keep, has none: its file is `local_path`)."""
    url = record.video_url
    if url is not None and is_inline_marker(url):
        url = None
    if kind_of_outputs(record.outputs) == "image":
        return {"video_url": None, "image_url": url}
    return {"video_url": url, "image_url": None}


def expired(record: JobRecord, now: float | None = None) -> bool:
    """Has Atlas stopped serving this job's outputs?"""
    now = time.time() if now is None else now
    return record.expires_at is not None and now >= record.expires_at


def _expires_text(record: JobRecord) -> str | None:
    if record.state != "completed" or record.expires_at is None:
        return None
    when = _iso(record.expires_at)
    return f"expired: {when}" if expired(record) else when


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


def job_document(record: JobRecord) -> dict[str, Any]:
    """The JSON of `atlas://jobs/{prediction_id}`."""
    data = record.model_dump(mode="json", exclude={"ref", "pid"})
    data["state"] = shown_state(record)
    data["created_at"] = _iso(record.created_at)
    data["updated_at"] = _iso(record.updated_at)
    data["completed_at"] = _iso(record.completed_at)
    data["expires_at"] = _iso(record.expires_at)
    data.update({k: v for k, v in output_urls(record).items() if v is not None})
    data.setdefault("video_url", None)
    return data


_FILTERS: dict[str, tuple[JobState, ...]] = {
    "processing": ("processing",),
    "completed": ("completed",),
    "failed": ("failed",),
    "unknown": ("unknown", "submitting"),
}


def register_job_tools(mcp: MCPServer[Any]) -> None:
    """Add `atlas_list_jobs` and the `atlas://jobs/{prediction_id}` resource."""

    @mcp.tool(
        title="Recorded Atlas jobs",
        annotations=ToolAnnotations(
            read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def atlas_list_jobs(
        ctx: Context[Any, Any],
        status: Annotated[
            Literal["processing", "completed", "failed", "unknown"] | None,
            Field(description="only this state"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="most returned")] = 20,
    ) -> JobList:
        """Paid jobs recorded here, newest first, kept across restarts (lost ids too);
        atlas_check_status finishes one."""
        book = _app(ctx).book
        if book.ledger is None:
            raise ToolError(book.warning or "The job ledger is unavailable.")
        states = _FILTERS[status] if status is not None else None
        records = await book.run(None, lambda ledger: ledger.recent(limit, state=states))
        if records is None:
            raise ToolError(f"The job ledger at {book.path} could not be read; see the logs.")
        jobs = [
            {"prediction_id": r.prediction_id, **summarise_job(r).model_dump(exclude_none=True)}
            for r in records
        ]
        return JobList(jobs=jobs, ledger=str(book.path))

    @mcp.resource(
        "atlas://jobs/{prediction_id}",
        name="job",
        title="A recorded Atlas job",
        description="The ledger's record of one job (JSON).",
        mime_type="application/json",
    )
    async def job_resource(prediction_id: str, ctx: Context[Any, Any]) -> dict[str, Any]:
        book = _app(ctx).book
        if book.ledger is None:
            raise ResourceNotFoundError(book.warning or "The job ledger is unavailable.")
        record = await book.get(prediction_id)
        if record is None:
            raise ResourceNotFoundError(
                f"No job {prediction_id!r} in the ledger at {book.path}; atlas_list_jobs "
                "lists the recorded ones with their prediction_id."
            )
        return job_document(record)


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
    sent. `Refused` and `OutcomeUnknown` become tool errors; an `AtlasError` means the
    job was refused or never sent (the caller explains it)."""
    try:
        digests = {
            name: await anyio.to_thread.run_sync(source.sha256) for name, source in sources.items()
        }
        submitter = _app(ctx).submitter
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
    except (Refused, OutcomeUnknown) as exc:
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


# -- cost confirmation -----------------------------------------------------------------


class CostApproval(BaseModel):
    """What the person is asked before an expensive job."""

    approve: bool = Field(description="Generate it and pay the estimated cost")


class CostCheck(BaseModel):
    """The resolver's answer when it asks nothing."""

    refusal: str | None = None
    """Set when the cost needs confirming but this client cannot ask the person."""


def _can_elicit(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, MODERN_PROTOCOL):
        return True  # asked through InputRequiredResult: no back channel needed
    return bool(ctx.session.can_send_request)


async def ask_cost(
    ctx: Context[Any, Any],
    model: str | None,
    prompt: str,
    image: str | None,
    end_image: str | None,
    duration: int | None,
    resolution: str | None,
    params: dict[str, Any] | None,
    dry_run: bool,
    confirm_cost: bool,
) -> Elicit[CostApproval] | CostCheck:
    """Resolver: ask the person before a job above ATLAS_MCP_CONFIRM_ABOVE_USD."""
    if dry_run or confirm_cost:
        return CostCheck()
    args = GenerateArgs(model, prompt, image, end_image, duration, resolution, params)
    return await _ask_plan_cost(ctx, args)


async def ask_image_cost(
    ctx: Context[Any, Any],
    model: str | None,
    prompt: str,
    image: str | None,
    params: dict[str, Any] | None,
    dry_run: bool,
    confirm_cost: bool,
) -> Elicit[CostApproval] | CostCheck:
    """Resolver of `atlas_generate_image`: `ask_cost` for an image job."""
    if dry_run or confirm_cost:
        return CostCheck()
    args = GenerateArgs(model, prompt, image, params=params, kind="image")
    return await _ask_plan_cost(ctx, args)


async def _ask_plan_cost(
    ctx: Context[Any, Any], args: GenerateArgs
) -> Elicit[CostApproval] | CostCheck:
    submitter = _app(ctx).submitter
    if submitter.settings.confirm_above_usd is None:
        return CostCheck()
    try:
        plan = await submitter.plan(args)
    except (Refused, AtlasError):
        return CostCheck()  # the tool body plans again and reports the problem
    cost = submitter.cost_summary(plan)
    if cost is None:
        return CostCheck()
    if not _can_elicit(ctx):
        return CostCheck(
            refusal=(
                f"This job costs {cost}, and this client cannot ask the person to confirm "
                "(it supports no MCP elicitation). Nothing was sent. Ask the person; if "
                "they agree, call again with confirm_cost: true."
            )
        )
    balance = await balance_text(submitter.client)
    available = f" Your Atlas balance: {balance}." if balance else ""
    return Elicit(
        f"Generate {'an image' if plan.kind == 'image' else 'a video'} with {plan.model.id} "
        f"for {cost}?{available} "
        f"Prompt: {plan.body.get('prompt', '')!s:.200}",
        CostApproval,
    )


async def balance_text(client: AtlasClient) -> str | None:
    """The account's available balance ("$12.50"), or None when it cannot be read soon."""
    with anyio.move_on_after(BALANCE_WAIT_SECONDS):
        try:
            return (await client.balance()).text()
        except AtlasError:
            return None
    return None


def check_cost(approval: ElicitationResult[Any]) -> None:
    """Raise the tool error that stops an unapproved job (nothing has been sent)."""
    if isinstance(approval, AcceptedElicitation):
        data = approval.data
        if isinstance(data, CostCheck):
            if data.refusal is not None:
                raise ToolError(data.refusal)
            return
        if isinstance(data, CostApproval) and data.approve:
            return
        raise ToolError("The person did not approve the cost, so nothing was sent.")
    action = "cancelled" if getattr(approval, "action", "") == "cancel" else "declined"
    raise ToolError(
        f"The person {action} the cost confirmation, so nothing was sent. Call again only "
        "if they change their mind."
    )
