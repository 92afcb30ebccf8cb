"""The tasks of one server lifespan (server/tasks.py has the protocol side): the task
store next to the ledger (its file, or its PostgreSQL database), each task as the wire
shows it, and the followers that poll Atlas for a working task's job and finish it
exactly as the blocking call would.

Any process on the same ledger may follow a task (a restarted stdio server, a second
HTTP instance): finishing is claimed in the ledger (`TaskStore.claim_finish`), so one
process saves the output and writes the result.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.errors import FileRefused, LedgerError
from atlas_mcp_py.files import plan_save
from atlas_mcp_py.generation import Hooks, elapsed_since, finish, job_result
from atlas_mcp_py.jobs import (
    FINISHING,
    OUTPUT_RETENTION_HOURS,
    STALE_SUBMITTING_SECONDS,
    PollSchedule,
    TaskBackend,
    TaskRecord,
    WaitSpec,
    new_task_id,
    open_task_store,
    progress_message,
    wait_for_prediction,
)
from atlas_mcp_py.server.client_context import call_hooks
from atlas_mcp_py.server.results import crash_text, tool_result
from atlas_mcp_py.server.task_handoff import Handoff
from atlas_mcp_py.server.task_wire import TERMINAL, TaskView

if TYPE_CHECKING:
    from atlas_mcp_py.server.state import AppState

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "TaskRuntime",
    "create_task",
    "job_fields",
    "open_tasks",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")
Announce = Callable[[TaskRecord], Awaitable[None]]
"""Tells a task's requester its new status (2025-11-25's `notifications/tasks/status`)."""

INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
DEFAULT_TTL_MS: Final = OUTPUT_RETENTION_HOURS * 3600 * 1000
"""A task lives as long as Atlas keeps its outputs (the URL's expiry, once known)."""
INPUT_POLL_MS: Final = 2000
CLAIM_STALE_SECONDS: Final = 600.0
"""A finish claimed this long ago by a process that never completed it may be retaken."""
NOT_FOUND: Final = "Failed to retrieve task: Task not found"


@asynccontextmanager
async def open_tasks(app: AppState) -> AsyncIterator[TaskRuntime | None]:
    """The tasks of one server lifespan, next to the job ledger: None (every call
    answered as without tasks) when the ledger is unavailable. Followers still running
    at the end are stopped; their tasks stay working for the next process."""
    if not app.book.available:
        yield None
        return
    try:
        store = await anyio.to_thread.run_sync(open_task_store, app.book.path)
    except LedgerError as exc:
        logger.warning("tasks disabled: %s", exc)
        yield None
        return
    try:
        async with anyio.create_task_group() as tg:
            yield TaskRuntime(app, store, tg)
            tg.cancel_scope.cancel()
    finally:
        store.close()


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


class TaskRuntime:
    """The tasks of one server lifespan: the store, the followers this process runs."""

    def __init__(self, app: AppState, store: TaskBackend, tg: TaskGroup) -> None:
        self.app = app
        self.store = store
        self.tg = tg
        self.followers: dict[str, anyio.CancelScope] = {}
        self.announcers: dict[str, Announce] = {}
        """Per task: how to tell its requester a status change (while it is connected
        to this process: its session's own stream)."""

    async def announce(self, task: TaskRecord | None) -> None:
        """Tell the task's requester its status, if it asked on this process's session
        and the status is new; never fails (the requester polls anyway)."""
        if task is None or (send := self.announcers.get(task.task_id)) is None:
            return
        if task.status in TERMINAL:
            del self.announcers[task.task_id]
        try:
            await send(task)
        except Exception as exc:  # noqa: BLE001 (a gone session: polling still answers)
            logger.debug("task %s: status not announced: %s", task.task_id, exc)

    async def run(self, fn: Callable[[TaskBackend], T]) -> T:
        """`fn(store)` off the event loop; a database problem is a JSON-RPC internal
        error (the task's state is unknown, which must not read as "not found")."""
        try:
            return await anyio.to_thread.run_sync(fn, self.store)
        except LedgerError as exc:
            logger.warning("tasks: %s", exc)
            raise MCPError(code=INTERNAL_ERROR, message=f"The task store failed: {exc}") from None

    async def find(self, task_id: str, owner: str) -> TaskRecord:
        task = await self.run(lambda s: s.get(task_id, owner))
        if task is None:
            raise MCPError(code=INVALID_PARAMS, message=NOT_FOUND)
        return task

    async def view(self, task: TaskRecord) -> TaskView:
        """The task as `tasks/get` shows it now."""
        view = TaskView(
            task_id=task.task_id,
            status=task.status,
            status_message=task.status_message,
            created_at=_iso(task.created_at),
            last_updated_at=_iso(task.updated_at),
            ttl_ms=DEFAULT_TTL_MS,
        )
        if task.expires_at is not None:
            view.ttl_ms = max(0, int((task.expires_at - task.created_at) * 1000))
        if task.status == "working":
            age = max(0.0, time.time() - task.created_at)
            state = "sending" if task.prediction_id is None else task.atlas_state or "processing"
            if state == FINISHING:
                state = "finished, saving"
            view.status_message = progress_message(state, age)
            view.poll_interval_ms = await self._poll_ms(task, age)
        elif task.status == "input_required":
            view.input_requests, view.poll_interval_ms = task.input_requests, INPUT_POLL_MS
        elif task.status == "completed":
            view.result = task.result
        elif task.status == "failed":
            view.error = task.error
        return view

    async def _poll_ms(self, task: TaskRecord, age: float) -> int:
        """How soon to ask again: the poll schedule of the model's recent run times."""
        settings = self.app.settings
        schedule = PollSchedule(settings.poll_min_seconds, settings.poll_max_seconds)
        expected = (await self.app.durations_of(task.model)).durations() if task.model else []
        delay = schedule.next_poll(age, expected) - age
        return int(1000 * min(max(delay, settings.poll_min_seconds), settings.poll_max_seconds))

    # -- following ---------------------------------------------------------------------

    def ensure_follower(self, task: TaskRecord, ctx: Context[Any, Any]) -> None:
        """Follow a working task in this process unless it already is."""
        if task.status != "working" or task.prediction_id is None:
            return
        if task.task_id in self.followers:
            return
        scope = anyio.CancelScope()
        self.followers[task.task_id] = scope
        self.tg.start_soon(self._follow, task, ctx, scope)

    async def settle_lost_send(self, task: TaskRecord) -> TaskRecord:
        """A task whose approved job was being sent by a process that stopped before
        recording it: completed with the blocking call's answer for a lost submission
        (the ledger holds the request; nothing is resent)."""
        stale = time.time() - task.updated_at > STALE_SUBMITTING_SECONDS
        if task.status != "working" or task.prediction_id is not None or not stale:
            return task
        text = (
            "The server stopped while sending this job to Atlas, so whether Atlas received "
            "it is unknown. It was NOT resent: look for it with atlas_list_jobs (status "
            "unknown or submitting) before calling again."
        )
        result = CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        done = await self.run(
            lambda s: s.update(
                task.task_id,
                when={"working"},
                where="prediction_id IS NULL",
                status="completed",
                result=dumped,
            )
        )
        await self.announce(done)
        return done or task

    def stop_following(self, task_id: str) -> None:
        scope = self.followers.pop(task_id, None)
        if scope is not None:
            scope.cancel()

    async def _follow(
        self, task: TaskRecord, ctx: Context[Any, Any], scope: anyio.CancelScope
    ) -> None:
        try:
            with scope:
                await self._follow_until_done(task, ctx)
        except Exception:  # a follower must never take the server down
            logger.exception("task %s: following failed", task.task_id)
            await self._crashed(task)
        finally:
            if self.followers.get(task.task_id) is scope:
                del self.followers[task.task_id]

    async def _crashed(self, task: TaskRecord) -> None:
        """Complete a task whose following failed unexpectedly with what the blocking
        call answers after a crash (the job itself stays in the ledger)."""
        text = crash_text(task.tool)
        result = CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        with anyio.CancelScope(shield=True):
            try:
                done = await self.run(
                    lambda s: s.update(
                        task.task_id, when={"working"}, status="completed", result=dumped
                    )
                )
                await self.announce(done)
            except MCPError:
                logger.warning("task %s: its crash could not be recorded", task.task_id)

    async def _follow_until_done(self, task: TaskRecord, ctx: Context[Any, Any]) -> None:
        app, prediction_id = self.app, task.prediction_id
        assert prediction_id is not None
        model = task.model or "unknown"

        async def record(seen: Prediction) -> None:
            if seen.state != "processing":
                await app.book.update(seen)
            elif seen.status != task.atlas_state:
                task.atlas_state = seen.status
                await self.run(
                    lambda s: s.update(
                        task.task_id,
                        when={"working"},
                        where="atlas_state IS NOT ?",
                        where_params=(FINISHING,),
                        atlas_state=seen.status,
                    )
                )

        durations = await app.durations_of(model)
        born = elapsed_since(_iso(task.created_at)) or 0.0
        outcome = await wait_for_prediction(
            lambda: app.client.get_prediction(prediction_id),
            WaitSpec(
                budget=math.inf,
                started_at=time.monotonic() - born,
                schedule=PollSchedule(app.settings.poll_min_seconds, app.settings.poll_max_seconds),
                heartbeat=app.settings.heartbeat_seconds,
                estimate=durations.estimate(),
                durations=durations,
            ),
            on_update=record,
            stop=app.stopping,
        )
        if not outcome.finished or outcome.prediction is None:
            return  # shutting down: the task stays working; any process may take it on
        await self._finish(task, outcome.prediction, outcome.elapsed, ctx)

    async def _finish(
        self, task: TaskRecord, last: Prediction, elapsed: float, ctx: Context[Any, Any]
    ) -> None:
        """Finish the ended job as the blocking call does, once across processes."""
        claimed = await self.run(
            lambda s: s.claim_finish(task.task_id, stale_after=CLAIM_STALE_SECONDS)
        )
        if claimed is None:
            return  # cancelled meanwhile, or another process is finishing it
        app = self.app
        result = job_result(
            last,
            model=task.model or "unknown",
            elapsed=elapsed,
            notes=list(task.notes),
            kind=task.kind or "video",
        )
        result.estimated_cost_usd = task.estimated_cost_usd
        hooks = _quiet(call_hooks(ctx))  # the roots this call was granted; no progress
        save = None
        save_to = task.arguments.get("save_to")
        if save_to:
            overwrite = bool(task.arguments.get("overwrite", False))
            try:
                save = plan_save(await hooks.roots(), save_to, overwrite=overwrite)
            except FileRefused as exc:  # the job is done: say why nothing was saved
                result.notes.append(f"Nothing saved to {save_to!r}: {exc}.")
        final = tool_result(await finish(app, hooks, result, save))
        record = await app.book.get(last.id)
        done = await self.run(
            lambda s: s.update(
                task.task_id,
                when={"working"},
                where="atlas_state IS ?",
                where_params=(FINISHING,),
                status="completed",
                status_message=f"Atlas: {last.status} · {int(elapsed)} s",
                result=final.model_dump(by_alias=True, exclude_none=True, mode="json"),
                expires_at=record.expires_at if record is not None else None,
            )
        )
        await self.announce(done)


def _quiet(hooks: Hooks) -> Hooks:
    """A follower's hooks: its request has ended, so no progress goes anywhere."""
    return Hooks(roots=hooks.roots, stop=hooks.stop, clock=hooks.clock)


def job_fields(handoff: Handoff) -> dict[str, Any]:
    prediction = handoff.prediction
    assert prediction is not None
    return {
        "prediction_id": prediction.id,
        "atlas_state": prediction.status,
        "model": handoff.model,
        "kind": handoff.kind,
        "notes": handoff.notes,
        "estimated_cost_usd": handoff.estimated_cost_usd,
    }


async def create_task(
    runtime: TaskRuntime,
    owner: str,
    tool: str,
    args: dict[str, Any],
    *,
    handoff: Handoff | None = None,
    asks: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> TaskRecord:
    """Write the task (durably: only then may its id be handed out): following a job
    (`handoff`), asking the cost (`asks`) or already ended with `result`."""
    now = time.time()
    status = "working" if handoff is not None else "input_required" if asks else "completed"
    task = TaskRecord(
        task_id=new_task_id(),
        owner=owner,
        tool=tool,
        arguments=args,
        status=status,
        created_at=now,
        updated_at=now,
        input_requests=asks,
        result=result if status == "completed" else None,
        status_message="Waiting for the person to confirm the cost." if asks else None,
    )
    if handoff is not None:
        for key, value in job_fields(handoff).items():
            setattr(task, key, value)
    return await runtime.run(lambda s: s.create(task))
