"""The hand-off between a generate call and the task that follows its job.

A `tools/call` served as a task (server/tasks.py) runs the ordinary generate tool with
a `Handoff` set here: the tool validates, estimates, confirms, uploads, sends the POST
once and records the job exactly as a blocking call does, then, instead of waiting,
leaves the recorded job here and returns. The task follows the job from then on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.generation import (
    GenerateRequest,
    Hooks,
    JobResult,
    Services,
    prepare,
    see_through,
    submit,
)

__all__ = [
    "Handoff",
    "current_handoff",
    "handing_off",
    "submit_for_task",
]


@dataclass
class Handoff:
    """What the generate call leaves for its task: the running job, as recorded."""

    prediction: Prediction | None = None
    model: str | None = None
    kind: str = "video"
    notes: list[str] = field(default_factory=list)
    estimated_cost_usd: float | None = None
    started_at: float | None = None
    """`time.monotonic()` of the submission (the blocking call counts elapsed from it)."""
    new_job: bool = True
    """False when the call found an identical earlier job instead of sending one."""


_current: ContextVar[Handoff | None] = ContextVar("atlas_task_handoff", default=None)


def current_handoff() -> Handoff | None:
    """The hand-off of the task this call runs for, or None (a blocking call)."""
    return _current.get()


@contextmanager
def handing_off(handoff: Handoff) -> Iterator[Handoff]:
    token = _current.set(handoff)
    try:
        yield handoff
    finally:
        _current.reset(token)


async def submit_for_task(
    services: Services, hooks: Hooks, request: GenerateRequest, handoff: Handoff
) -> JobResult:
    """The paid call up to its recorded job (`generation.prepare` and `submit`: checks,
    cost, uploads, one POST, the ledger row), left in `handoff` while it runs. A job that
    has already ended (an identical earlier one) is seen through as the blocking call
    would; the result of one left running is its submission (the task answers instead)."""
    prepared = await prepare(services, hooks, request)
    started = await submit(services, hooks, prepared)
    job = started.job
    if job.prediction.state == "processing":
        handoff.prediction, handoff.model = job.prediction, prepared.plan.model.id
        handoff.kind, handoff.notes = prepared.plan.kind, list(job.notes)
        handoff.estimated_cost_usd, handoff.started_at = job.estimated_cost_usd, job.started_at
        handoff.new_job = job.duplicate_of is None
        started.prepared = replace(prepared, request=replace(request, wait=False))
    return await see_through(services, hooks, started)
