"""atlas_generate_video and atlas_generate_image: plan, confirm, submit once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from atlas_mcp_py.atlas.inputs import format_problem
from atlas_mcp_py.errors import (
    LostSubmission,
    Refused,
)
from atlas_mcp_py.files.uploads import UploadSource
from atlas_mcp_py.jobs.pacing import QueueFn
from atlas_mcp_py.jobs.plan import Plan
from atlas_mcp_py.jobs.submit import Submitted
from atlas_mcp_py.server.ledger_tools import _app
from atlas_mcp_py.server.protocol import report_progress
from atlas_mcp_py.server.results import (
    JobResult,
    job_result,
)

__all__ = [
    "dry_run_result",
    "queue_reporter",
    "start_job",
    "submitted_result",
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


PARAMS_HINT: dict[str, Any] = {
    "properties": {
        "seed": {"type": "integer"},
        "negative_prompt": {"type": "string"},
        "aspect_ratio": {"type": "string"},
    }
}
"""The commonest model parameters beyond the named arguments (any other is accepted):
an object argument with no `properties` is refused by Gemini's function calling."""

# Arguments both generate tools take, defined once.
Params = Annotated[
    dict[str, Any] | None,
    Field(description="other model parameters", json_schema_extra=PARAMS_HINT),
]


MaxWait = Annotated[float | None, Field(ge=0, description="cap on this call's wait")]


DryRun = Annotated[bool, Field(description="show the request and cost; send nothing")]


Overwrite = Annotated[bool, Field(description="save_to may replace a file")]


AllowDuplicate = Annotated[bool, Field(description="pay again for a recent twin")]


ConfirmCost = Annotated[bool, Field(description="person approved the cost")]


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
