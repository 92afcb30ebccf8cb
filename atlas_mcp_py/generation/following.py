"""Following a job already submitted: its status by id, a wait on it with progress, and
its result finished (saved, noted).

`follow` is what `atlas_check_status` does for any recorded or known prediction id;
`wait_for_job` is the one wait every use case shares (a new job's, a checked job's):
polls on the schedule the model's recent run times give, ledger updates as the job
changes, progress through the caller's hooks, and an early end when the server stops.
"""

from __future__ import annotations

from typing import Any

from atlas_mcp_py.atlas import Prediction, kind_of_outputs
from atlas_mcp_py.errors import AtlasError, NotFoundError, Refused
from atlas_mcp_py.files import SavePlan
from atlas_mcp_py.generation.explaining import explain
from atlas_mcp_py.generation.finishing import expired, expiry_note, finish
from atlas_mcp_py.generation.hooks import Hooks
from atlas_mcp_py.generation.outcome import JobResult, elapsed_since, job_result
from atlas_mcp_py.generation.services import Services, wait_budget
from atlas_mcp_py.generation.sources import plan_destination
from atlas_mcp_py.jobs import (
    JobBook,
    JobRecord,
    PollSchedule,
    WaitSpec,
    seen_completed,
    wait_for_prediction,
)

__all__ = ["checked_elapsed", "follow", "kind_of", "record_check", "wait_for_job"]


async def follow(
    services: Services,
    hooks: Hooks,
    prediction_id: str,
    *,
    wait: bool = False,
    max_wait_seconds: float | None = None,
    save_to: str | None = None,
    overwrite: bool = False,
) -> JobResult:
    """A job's status by id, waited on when `wait` (and it still runs), and finished.

    Raises `Refused` (a bad `save_to`; a job Atlas no longer knows whose outputs
    expired) or the `AtlasError` of the status request."""
    save = await plan_destination(hooks, save_to, overwrite)
    mine = await services.book.get(prediction_id)
    # another user's job is not theirs; and a named user of a team server follows only
    # jobs recorded for them, so an id the ledger lacks answers as another user's does
    # (the shared Atlas account would otherwise show any job, and the difference that
    # a recorded id exists). The one user "" (stdio, the single token) follows any job.
    if (mine.owner != hooks.owner) if mine is not None else bool(hooks.owner):
        raise Refused(
            f"Unknown job {prediction_id!r}: none of your jobs has that id. "
            "atlas_list_jobs lists yours."
        )
    until = hooks.clock() + wait_budget(
        services.settings, max_wait_seconds, hooks.has_progress, hooks.time_limit
    )
    try:
        prediction = await services.client.get_prediction(prediction_id)
    except NotFoundError:
        known = await services.book.get(prediction_id)
        gone = expiry_note(known, saved=False) if known and expired(known) else None
        if gone is not None:
            raise Refused(f"{gone} Atlas no longer knows the job (404).") from None
        raise
    notes: list[str] = []
    api_root = services.settings.base_url
    prediction, record = await record_check(
        services.book, prediction, api_root=api_root, notes=notes, owner=hooks.owner
    )
    model = prediction.model or "unknown"
    cost = record.estimated_cost_usd if record is not None else None
    if wait and prediction.state == "processing":
        return await wait_for_job(
            services,
            hooks,
            prediction,
            model=model,
            started_at=None,
            max_wait_seconds=max_wait_seconds,
            save=save,
            notes=notes,
            cost=cost,
        )
    kind = await kind_of(services, model, prediction.outputs)
    elapsed = checked_elapsed(prediction)
    result = job_result(prediction, model=model, elapsed=elapsed, kind=kind)
    result.notes, result.estimated_cost_usd = notes, cost
    return await finish(services, hooks, result, save, until=until)


async def record_check(
    book: JobBook, prediction: Prediction, *, api_root: str, notes: list[str], owner: str = ""
) -> tuple[Prediction, JobRecord | None]:
    """Note a status a check saw, and fill what Atlas left out (model, created time)
    from the ledger, which also gives the estimated cost."""
    record = await book.get(prediction.id)
    if record is not None:
        update: dict[str, Any] = {}
        if not prediction.model:
            update["model"] = record.model
        if not prediction.created_at:
            update["created_at"] = str(record.created_at)
        prediction = prediction.model_copy(update=update)
    settled = seen_completed(record, prediction)
    if settled is not None:
        notes.append("Atlas said this job is processing again; it was seen completed, so it is.")
        prediction = settled
    created = record.created_at if record is not None else None
    checked = prediction
    await book.run(
        notes,
        lambda ledger: ledger.remember(checked, api_root=api_root, created_at=created, owner=owner),
    )
    book.add_warning(notes)
    return prediction, record


def checked_elapsed(prediction: Prediction) -> float | None:
    """How long a checked job has run: Atlas's own figure, else its age."""
    return prediction.predict_time or elapsed_since(prediction.created_at)


async def wait_for_job(
    services: Services,
    hooks: Hooks,
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
) -> JobResult:
    """Wait on a running job (progress, ledger updates, stop) and finish its result.
    The one wait every use case shares, its hooks and hand-off notes together."""
    settings, book = services.settings, services.book
    budget = wait_budget(settings, max_wait_seconds, hooks.has_progress, hooks.time_limit)
    until = hooks.clock() + budget
    if started_at is None:
        known = elapsed_since(prediction.created_at)
        started_at = hooks.clock() - (known or 0.0)

    async def record(seen: Prediction) -> None:
        # the ledger needs the end (outputs, error); created -> queued -> processing
        # would each cost a synced write and change nothing it shows
        if seen.state != "processing":
            await book.update(seen)

    durations = await services.durations_of(model)
    outcome = await wait_for_prediction(
        lambda: services.client.get_prediction(prediction.id),
        WaitSpec(
            budget=budget,
            started_at=started_at,
            schedule=PollSchedule(settings.poll_min_seconds, settings.poll_max_seconds),
            heartbeat=settings.heartbeat_seconds,
            estimate=durations.estimate(),
            origin=origin,
            durations=durations,
            clock=hooks.clock,
        ),
        on_progress=hooks.progress if hooks.has_progress else None,
        initial=prediction,
        stop=hooks.stop,
        on_update=record,
    )
    last = outcome.prediction or prediction
    notes = list(notes or [])
    book.add_warning(notes)
    if outcome.stopped:
        notes.append("The MCP server is shutting down; the job goes on at Atlas.")
    if outcome.timed_out and outcome.poll_error is not None:
        notes.append(
            f"The last status check failed ({explain(outcome.poll_error)}); "
            "the job itself may be fine."
        )
    kind = kind or await kind_of(services, model, last.outputs)
    result = job_result(last, model=model, elapsed=outcome.elapsed, notes=notes, kind=kind)
    result.estimated_cost_usd = cost
    return await finish(services, hooks, result, save, until=until)


async def kind_of(services: Services, model: str, outputs: list[str]) -> str:
    """Is a job checked by id an image or a video job: its outputs tell, else the
    catalog's type of its model."""
    found = kind_of_outputs(outputs)
    if found is not None:
        return found
    try:
        info = await services.client.get_model(model)
    except AtlasError:
        return "video"
    return "image" if info is not None and info.type == "image" else "video"
