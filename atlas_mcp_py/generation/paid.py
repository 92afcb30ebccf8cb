"""The paid call: plan, confirm the cost, open and check the local files, upload, submit
once, wait, save.

`generate` runs it whole, as the generate tools do. Its steps stand alone for a caller
that does not wait in one go (a background task): `prepare` plans and checks (nothing is
sent; a dry run ends here), `submit` confirms, uploads and POSTs once (the job is in the
ledger when it returns), and `see_through` waits and finishes. A job submitted earlier
is followed by id with `following.follow`.

Refusals are `Refused` (nothing sent), `LostSubmission` (a POST whose answer was lost and
that history does not show), `JobNotCreated` (Atlas refused the POST, or it never got
there: nothing billed) or the `AtlasError` of planning; the caller words them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread

from atlas_mcp_py.atlas import slots
from atlas_mcp_py.errors import AtlasError, InsufficientBalanceError, JobNotCreated, Refused
from atlas_mcp_py.files import SavePlan, UploadSource
from atlas_mcp_py.generation.explaining import balance_text
from atlas_mcp_py.generation.finishing import finish
from atlas_mcp_py.generation.following import wait_for_job
from atlas_mcp_py.generation.hooks import Hooks
from atlas_mcp_py.generation.outcome import JobResult, dry_run_result, submitted_result
from atlas_mcp_py.generation.services import Services, wait_budget
from atlas_mcp_py.generation.sources import (
    check_files,
    local_frames,
    open_sources,
    plan_destination,
    upload_url,
)
from atlas_mcp_py.jobs import GenerateArgs, Plan, QueueFn, Submitted, make_plan

__all__ = [
    "GenerateRequest",
    "Prepared",
    "Started",
    "generate",
    "prepare",
    "see_through",
    "submit",
]


@dataclass(frozen=True)
class GenerateRequest:
    """One generate call as asked: what to make and how to handle the job."""

    args: GenerateArgs
    wait: bool = True
    """Wait for the job's end (else return it as soon as it is submitted)."""
    max_wait_seconds: float | None = None
    dry_run: bool = False
    save_to: str | None = None
    overwrite: bool = False
    allow_duplicate: bool = False


@dataclass(frozen=True)
class Prepared:
    """A call planned and checked: nothing sent yet."""

    request: GenerateRequest
    plan: Plan
    save: SavePlan | None
    """Where the result will be saved (checked against the roots already)."""


@dataclass
class Started:
    """A call whose job is submitted (and in the ledger): what waiting on it needs."""

    prepared: Prepared
    job: Submitted
    budget: float
    """Seconds the call may spend from `called` on: the local queue and the wait."""
    called: float
    """`hooks.clock()` when the submission began."""


async def generate(services: Services, hooks: Hooks, request: GenerateRequest) -> JobResult:
    """One generate call, video or image (`request.args.kind`): plan, confirm, submit
    once, wait (when asked), save (when asked)."""
    prepared = await prepare(services, hooks, request)
    if request.dry_run:
        return dry_run_result(prepared.plan)
    started = await submit(services, hooks, prepared)
    return await see_through(services, hooks, started)


async def prepare(services: Services, hooks: Hooks, request: GenerateRequest) -> Prepared:
    """Check the destination, resolve the model, check the arguments and price the job.
    Nothing is opened or sent."""
    kind = request.args.kind
    save = await plan_destination(hooks, request.save_to, request.overwrite, kind=kind)
    plan = await make_plan(services.client, request.args, services.settings)
    return Prepared(request, plan, save)


async def submit(services: Services, hooks: Hooks, prepared: Prepared) -> Started:
    """Confirm the cost, open and check the local files, upload them and POST the job
    once (or find the identical earlier one). Returns as soon as Atlas answered: the
    job is recorded in the ledger, and `see_through` waits on it."""
    plan, request = prepared.plan, prepared.request
    if hooks.confirm is not None:
        refusal = await hooks.confirm(plan)
        if refusal is not None:
            raise Refused(refusal)
    local = local_frames({plan.label(s): v for s, v in slots(plan.body, plan.media).items()})
    opened = await open_sources(services, hooks, local)
    sources = dict(zip(plan.local, opened, strict=True))
    check_files(plan, sources)
    budget = wait_budget(
        services.settings, request.max_wait_seconds, hooks.has_progress, hooks.time_limit
    )
    called = hooks.clock()  # the budget covers the local queue and the wait
    try:
        job = await _send(services, hooks, plan, sources, request, budget)
    except AtlasError as exc:
        balance = None
        if isinstance(exc, InsufficientBalanceError):
            balance = await balance_text(services.client)
        raise JobNotCreated(exc, balance) from None
    return Started(prepared, job, budget, called)


async def see_through(services: Services, hooks: Hooks, started: Started) -> JobResult:
    """Wait on a submitted job (unless the call asked not to, or it has ended) and
    finish its result."""
    job, plan, request = started.job, started.prepared.plan, started.prepared.request
    save = started.prepared.save
    if not request.wait or job.prediction.state != "processing":
        result = submitted_result(job, plan.model.id, plan.kind)
        return await finish(services, hooks, result, save)
    return await wait_for_job(
        services,
        hooks,
        job.prediction,
        model=plan.model.id,
        started_at=job.started_at,
        max_wait_seconds=max(0.0, started.budget - (hooks.clock() - started.called)),
        # a new job's age counts from Atlas's answer, just in; an earlier one's from its
        # submission
        origin=hooks.clock() if job.duplicate_of is None else None,
        save=save,
        notes=job.notes,
        cost=job.estimated_cost_usd,
        kind=plan.kind,
    )


async def _send(
    services: Services,
    hooks: Hooks,
    plan: Plan,
    sources: dict[str, UploadSource],
    request: GenerateRequest,
    budget: float,
) -> Submitted:
    """Submit the planned job (or find the identical earlier one), holding an in-flight
    slot while it is sent. `sources` are the opened local frames, closed here once sent."""
    try:
        digests = {
            name: await anyio.to_thread.run_sync(source.sha256) for name, source in sources.items()
        }
        submitter = services.submitter
        async with submitter.submit(
            plan,
            upload=lambda name: upload_url(services, sources[name]),
            digests=digests,
            allow_duplicate=request.allow_duplicate,
            on_queue=_queue_reporter(hooks, lambda: submitter.limit.in_flight),
            queue_budget=budget,
            owner=hooks.owner,
        ) as job:
            return job
    finally:
        for source in sources.values():
            source.close()


def _queue_reporter(hooks: Hooks, running: Callable[[], int]) -> QueueFn:
    """Progress "queued locally, 2 ahead" while a call waits for an in-flight slot."""
    started_at = hooks.clock()

    async def report(ahead: int) -> None:
        elapsed = max(0.0, hooks.clock() - started_at)
        message = (
            f"queued locally, {ahead} ahead ({running()} requests being sent) · {int(elapsed)} s"
        )
        await hooks.progress(round(elapsed, 1), None, message)

    return report
