"""Tasks in the 2025-11-25 protocol's own shape: the experimental task augmentation of
that revision's core (`params.task` on `tools/call`, `tasks/get`, `tasks/result`,
`tasks/list`, `tasks/cancel`), served from the same ledger-backed tasks as the
2026-07-28 extension (server/tasks.py, server/task_runtime.py).

Only on a 2025-11-25 connection whose client declared the `tasks` capability at the
handshake, and only for a call that asked with `params.task`: everything else is
answered as before. The SDK validates a `tools/call` answer as a `CallToolResult` on a
handshake-era connection, so a `CreateTaskResult` cannot come from the tool handler;
`legacy_task_calls`, a server middleware (a middleware's own answer is sent as it
is), marks such a call, the extension's interceptor runs it up to its recorded job and
leaves the task here, and the middleware answers with it.

When a task this session created changes status (it ends, or is cancelled), the
session is told with `notifications/tasks/status`: the one place the protocol lets the
server speak first about a task without a stream the client opened for it.

Cost confirmation in this era needs no task state: the confirmation is asked through
elicitation during the `tools/call` itself (before the task exists, as the blocking
call does), so nothing is billed before the answer; a client without elicitation gets
the blocking call's refusal ("call again with confirm_cost: true") as a completed task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp_types import PaginatedRequestParams, ServerNotification, TaskStatusNotification
from pydantic import BaseModel

from atlas_mcp_py.jobs import TaskRecord
from atlas_mcp_py.server.identity import caller_identity
from atlas_mcp_py.server.task_runtime import INVALID_PARAMS
from atlas_mcp_py.server.task_wire import (
    LEGACY_TASKS_VERSION,
    RELATED_TASK_META,
    TERMINAL,
    legacy_task,
)

if TYPE_CHECKING:
    from atlas_mcp_py.server.task_runtime import Announce, TaskRuntime

__all__ = [
    "LegacyCall",
    "ListParams",
    "client_has_tasks",
    "dumped",
    "legacy_call",
    "legacy_list",
    "legacy_result",
    "legacy_task_calls",
    "require_legacy",
    "status_announcer",
]

METHOD_NOT_FOUND: Final = -32601
PAGE: Final = 50
RESULT_POLL_SECONDS: Final = 0.5
"""How often a blocked `tasks/result` looks at the task (any process may finish it)."""


@dataclass
class LegacyCall:
    """A 2025-11-25 `tools/call` that asked for a task: the task it became, if any."""

    created: dict[str, Any] | None = None


_current: ContextVar[LegacyCall | None] = ContextVar("atlas_legacy_task_call", default=None)


def legacy_call() -> LegacyCall | None:
    """The call being served as a 2025-11-25 task, or None."""
    return _current.get()


@contextmanager
def _marking(call: LegacyCall) -> Iterator[LegacyCall]:
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)


def client_has_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the connection is 2025-11-25 and its client declared `tasks` at the
    handshake (the spec: without it a request is processed normally)."""
    if ctx.protocol_version != LEGACY_TASKS_VERSION:
        return False
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.tasks is not None


async def legacy_task_calls(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Server middleware: a 2025-11-25 `tools/call` with `params.task` from a client
    with the capability is answered with the task its call became (the module
    docstring says why here); every other request passes through untouched."""
    params = ctx.params
    asks = ctx.method == "tools/call" and isinstance(params, dict) and "task" in params
    if not asks or not client_has_tasks(ctx):
        return await call_next(ctx)
    with _marking(LegacyCall()) as call:
        result = await call_next(ctx)
    return call.created if call.created is not None else result


def require_legacy(ctx: ServerRequestContext[Any, Any]) -> None:
    if not client_has_tasks(ctx):
        raise MCPError(
            code=METHOD_NOT_FOUND,
            message="Method not found: tasks need the tasks capability declared at initialize",
        )


class ListParams(PaginatedRequestParams):
    """`tasks/list` params (a cursor, maybe)."""


async def legacy_list(
    runtime: TaskRuntime, ctx: ServerRequestContext[Any, Any], cursor: str | None
) -> dict[str, Any]:
    """`tasks/list`: the caller's tasks, newest first, a page at a time (the cursor is
    an offset the client must treat as opaque)."""
    try:
        offset = int(cursor) if cursor else 0
    except ValueError:
        raise MCPError(code=INVALID_PARAMS, message="Invalid cursor") from None
    owner = caller_identity(ctx.request)
    tasks = await runtime.run(lambda s: s.list(owner, offset=max(0, offset), limit=PAGE + 1))
    listed = [legacy_task(await runtime.view(task)) for task in tasks[:PAGE]]
    answer: dict[str, Any] = {"tasks": listed}
    if len(tasks) > PAGE:
        answer["nextCursor"] = str(offset + PAGE)
    return answer


async def legacy_result(
    runtime: TaskRuntime, task: TaskRecord, follow: Callable[[TaskRecord], None]
) -> dict[str, Any]:
    """`tasks/result`: block until the task ends, then answer what the `tools/call`
    would have (its `CallToolResult`, or its JSON-RPC error)."""
    while task.status not in TERMINAL:
        task = await runtime.settle_lost_send(task)
        follow(task)
        await anyio.sleep(RESULT_POLL_SECONDS)
        task = await runtime.find(task.task_id, task.owner)
    related = {RELATED_TASK_META: {"taskId": task.task_id}}
    if task.status == "failed":
        error = task.error or {}
        raise MCPError(
            code=int(error.get("code", -32603)),
            message=str(error.get("message", "The task failed")),
            data=error.get("data"),
        )
    if task.status == "cancelled":
        text = task.status_message or "The task was cancelled."
        content = [{"type": "text", "text": text}]
        return {"content": content, "isError": True, "_meta": related}
    result = dict(task.result or {})
    result.pop("resultType", None)  # 2026-07-28's envelope: not in this era's schema
    result["_meta"] = {**(result.get("_meta") or {}), **related}
    return result


def status_announcer(runtime: TaskRuntime, session: ServerSession) -> Announce:
    """`notifications/tasks/status` on the requester's session (that era allows them
    there; a requester must not rely on them: it polls). The SDK's notification union
    leaves this type out ("types only"), hence the cast; the session only dumps it."""

    async def send(task: TaskRecord) -> None:
        params = legacy_task(await runtime.view(task))
        notification = TaskStatusNotification.model_validate({"params": params})
        await session.send_notification(cast("ServerNotification", notification))

    return send


def dumped(result: Any) -> dict[str, Any]:
    """A tool call's answer in its wire form."""
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dict(result)
