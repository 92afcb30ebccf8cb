"""Long jobs the protocol's way: the MCP Tasks extension, backed by the job ledger.

A client that declares `io.modelcontextprotocol/tasks` in a request's capabilities and
calls `atlas_generate_video` or `atlas_generate_image` gets a task instead of a
blocking wait: the tool runs as always up to the recorded job (validate, estimate,
confirm, upload, one POST, ledger row; server/task_handoff.py), the task is written to
the ledger file (jobs/tasks.py) and its id returned at once. A follower polls Atlas
and, when the job ends, finishes it exactly as the blocking call would (save_to,
expiry, cost): that `CallToolResult` becomes the task's `result`. A failed Atlas job is
a completed task whose result has `isError`; `failed` is kept for JSON-RPC errors.

A job above ATLAS_MCP_CONFIRM_ABOVE_USD starts as an `input_required` task carrying the
cost question; `tasks/update` with the answer sends the job (nothing is billed before)
or cancels the task. `tasks/cancel` stops following: Atlas has no cancel endpoint, so
the job may still finish and is still listed by atlas_list_jobs.

Any process on the same ledger answers `tasks/get`: one without a follower for the
task starts one (a restarted stdio server, a second HTTP instance); finishing is a
compare-and-set in the ledger, so only one process saves and records the result. A
task belongs to the identity that created it (server/identity.py): others are told
the task is unknown. Without the client capability nothing here runs: the tools answer
as they always did.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolRequestParams, CallToolResult, InputRequiredResult, TextContent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from atlas_mcp_py.jobs import TaskRecord
from atlas_mcp_py.server.identity import caller_identity
from atlas_mcp_py.server.task_handoff import Handoff, handing_off
from atlas_mcp_py.server.task_legacy import (
    LegacyCall,
    ListParams,
    dumped,
    legacy_call,
    legacy_list,
    legacy_result,
    require_legacy,
    status_announcer,
)
from atlas_mcp_py.server.task_runtime import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    TaskRuntime,
    create_task,
    job_fields,
    open_tasks,
)
from atlas_mcp_py.server.task_wire import (
    LEGACY_TASKS_VERSION,
    TASK_TOOLS,
    TASKS_EXTENSION,
    TERMINAL,
    TaskIdParams,
    UpdateTaskParams,
    client_wants_tasks,
    legacy_task,
)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from atlas_mcp_py.server.state import AppState

__all__ = [
    "TASK_TOOLS",
    "TasksExtension",
]

logger = logging.getLogger(__name__)

MODERN: Final = frozenset(MODERN_PROTOCOL_VERSIONS)
LEGACY: Final = frozenset({LEGACY_TASKS_VERSION})
MISSING_CAPABILITY: Final = -32021
CANCELLED_TEXT: Final = (
    "Cancelled by the person: the server stopped following the job. Atlas has no cancel "
    "endpoint, so the job ({id}) may still finish and is billed as sent; if it finishes, "
    "atlas_list_jobs and atlas_check_status still find it."
)
DECLINED_TEXT: Final = "The person did not approve the cost, so nothing was sent or billed."


def _cost_question(result: InputRequiredResult) -> dict[str, Any] | None:
    """The input requests of a cost confirmation (every one an elicitation), or None."""
    dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    requests = dumped.get("inputRequests") or {}
    if requests and all(r.get("method") == "elicitation/create" for r in requests.values()):
        return {f"confirm-cost-{key}": value for key, value in requests.items()}
    return None


def _approved(responses: dict[str, dict[str, Any]], keys: list[str]) -> bool | None:
    """The person's answer to the cost question: True, False, or None (not yet)."""
    answered = [responses[key] for key in keys if key in responses]
    if not answered:
        return None
    answer = answered[0]
    content = answer.get("content") or {}
    return answer.get("action") == "accept" and content.get("approve") is True


class TasksExtension(Extension):
    """`io.modelcontextprotocol/tasks` for the generate tools (see the module docstring)."""

    identifier = TASKS_EXTENSION

    def __init__(self) -> None:
        self._server: MCPServer[Any] | None = None
        self._runtimes: dict[int, TaskRuntime] = {}
        """The tasks of each running lifespan, by its state's id()."""

    @asynccontextmanager
    async def serving(self, app: AppState) -> AsyncIterator[None]:
        """Tasks for the lifespan whose state is `app` (none when its ledger is
        unavailable: every call is then answered as without tasks)."""
        async with open_tasks(app) as runtime:
            if runtime is not None:
                self._runtimes[id(app)] = runtime
            try:
                yield
            finally:
                self._runtimes.pop(id(app), None)

    def runtime_of(self, ctx: ServerRequestContext[Any, Any]) -> TaskRuntime | None:
        return self._runtimes.get(id(ctx.lifespan_context))

    def bind(self, server: MCPServer[Any]) -> None:
        """The server whose tools a confirmed task runs (built after its extensions)."""
        self._server = server

    @property
    def server(self) -> MCPServer[Any]:
        assert self._server is not None, "TasksExtension.bind(server) was not called"
        return self._server

    def methods(self) -> list[MethodBinding]:
        both = MODERN | LEGACY  # the same method names, each era's shapes
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get, protocol_versions=both),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, protocol_versions=MODERN),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, protocol_versions=both),
            MethodBinding("tasks/result", TaskIdParams, self._result, protocol_versions=LEGACY),
            MethodBinding("tasks/list", ListParams, self._list, protocol_versions=LEGACY),
        ]

    def _runtime(self, ctx: ServerRequestContext[Any, Any]) -> TaskRuntime:
        """This lifespan's tasks, for a `tasks/*` request of a client that declared the
        extension on it (the spec: -32021 otherwise; 2025-11-25: the `tasks` capability
        of its handshake, -32601 otherwise)."""
        if ctx.protocol_version == LEGACY_TASKS_VERSION:
            require_legacy(ctx)
        elif not client_wants_tasks(ctx.params):
            raise MCPError(
                code=MISSING_CAPABILITY,
                message="Missing required client capability",
                data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
            )
        runtime = self.runtime_of(ctx)
        if runtime is None:
            raise MCPError(code=INTERNAL_ERROR, message="Tasks are unavailable: the job ledger is.")
        return runtime

    def _context(
        self, ctx: ServerRequestContext[Any, Any], name: str, args: dict[str, Any]
    ) -> Context[Any, Any]:
        params = CallToolRequestParams(name=name, arguments=args)
        return Context(request_context=ctx, mcp_server=self.server, input_params=params)

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        runtime = self.runtime_of(ctx)
        legacy = legacy_call()
        if legacy is not None and params.name in TASK_TOOLS and runtime is not None:
            return await self._legacy_task(runtime, legacy, params, ctx, call_next)
        if (
            params.name not in TASK_TOOLS
            or ctx.protocol_version not in MODERN
            or not client_wants_tasks(ctx.params)
            or runtime is None
        ):
            return await call_next(ctx)  # today's blocking call, unchanged
        with handing_off(Handoff()) as handoff:
            result = await call_next(ctx)
        owner = caller_identity(ctx.request)
        args = dict(params.arguments or {})
        if handoff.prediction is not None:
            task = await create_task(runtime, owner, params.name, args, handoff=handoff)
            runtime.ensure_follower(task, self._context(ctx, params.name, args))
            return (await runtime.view(task)).created()
        if isinstance(result, InputRequiredResult) and (asks := _cost_question(result)):
            task = await create_task(runtime, owner, params.name, args, asks=asks)
            return (await runtime.view(task)).created()
        return result  # refused, dry run, or already finished: the plain result

    async def _legacy_task(
        self,
        runtime: TaskRuntime,
        legacy: LegacyCall,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        """A 2025-11-25 `tools/call` with `params.task` (server/task_legacy.py): the call
        runs up to its recorded job (the cost asked by elicitation on the way, as the
        blocking call does) and the task follows the job; a call that ends without one
        (refused, dry run, declined, already finished) is a task completed with it. The
        task goes to `legacy`; the call's own result is returned (the SDK checks it, the
        middleware answers with the task instead)."""
        with handing_off(Handoff()) as handoff:
            result = await call_next(ctx)
        owner = caller_identity(ctx.request)
        args = dict(params.arguments or {})
        if handoff.prediction is not None:
            task = await create_task(runtime, owner, params.name, args, handoff=handoff)
            runtime.announcers[task.task_id] = status_announcer(runtime, ctx.session)
            runtime.ensure_follower(task, self._context(ctx, params.name, args))
        else:
            task = await create_task(runtime, owner, params.name, args, result=dumped(result))
        legacy.created = {"task": legacy_task(await runtime.view(task))}
        return result

    def _follow(self, ctx: ServerRequestContext[Any, Any]) -> Callable[[TaskRecord], None]:
        """Follow a task in this process (a restarted one, another instance) if nobody does."""
        runtime = self._runtime(ctx)
        return lambda task: runtime.ensure_follower(
            task, self._context(ctx, task.tool, task.arguments)
        )

    async def _get(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> dict[str, Any]:
        runtime = self._runtime(ctx)
        task = await runtime.find(params.task_id, caller_identity(ctx.request))
        task = await runtime.settle_lost_send(task)
        self._follow(ctx)(task)
        if ctx.protocol_version == LEGACY_TASKS_VERSION:
            return legacy_task(await runtime.view(task))
        return (await runtime.view(task)).got()

    async def _result(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> dict[str, Any]:
        """2025-11-25 `tasks/result`: blocks until the task ends."""
        runtime = self._runtime(ctx)
        task = await runtime.find(params.task_id, caller_identity(ctx.request))
        return await legacy_result(runtime, task, self._follow(ctx))

    async def _list(
        self, ctx: ServerRequestContext[Any, Any], params: ListParams
    ) -> dict[str, Any]:
        """2025-11-25 `tasks/list`: the caller's tasks."""
        return await legacy_list(self._runtime(ctx), ctx, params.cursor)

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> dict[str, Any]:
        runtime = self._runtime(ctx)
        task = await runtime.find(params.task_id, caller_identity(ctx.request))
        legacy = ctx.protocol_version == LEGACY_TASKS_VERSION
        if legacy and task.status in TERMINAL:  # that era's rule: -32602
            raise MCPError(code=INVALID_PARAMS, message=f"Cannot cancel a {task.status} task")
        message = CANCELLED_TEXT.format(id=task.prediction_id)
        if task.prediction_id is None:
            message = "Cancelled by the person before the job was sent: nothing was billed."
        moved = await runtime.run(
            lambda s: s.update(
                task.task_id,
                when={"working", "input_required"},
                status="cancelled",
                status_message=message,
            )
        )
        runtime.stop_following(task.task_id)
        await runtime.announce(moved)
        if legacy:  # that era answers with the task
            return legacy_task(
                await runtime.view(moved or await runtime.find(task.task_id, task.owner))
            )
        return {"resultType": "complete"}

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams
    ) -> dict[str, Any]:
        runtime = self._runtime(ctx)
        task = await runtime.find(params.task_id, caller_identity(ctx.request))
        keys = sorted((task.input_requests or {}) if task.status == "input_required" else {})
        approved = _approved(params.input_responses, keys)
        if approved is None:
            return {"resultType": "complete"}  # nothing outstanding answered: ignored
        if not approved:
            await runtime.run(
                lambda s: s.update(
                    task.task_id,
                    when={"input_required"},
                    status="cancelled",
                    status_message=DECLINED_TEXT,
                    input_requests=None,
                )
            )
            return {"resultType": "complete"}
        moved = await runtime.run(
            lambda s: s.update(
                task.task_id, when={"input_required"}, status="working", input_requests=None
            )
        )
        if moved is not None:  # this answer (not a repeated one) sends the job, once
            await self._send_confirmed(runtime, ctx, moved)
        return {"resultType": "complete"}

    async def _send_confirmed(
        self, runtime: TaskRuntime, ctx: ServerRequestContext[Any, Any], task: TaskRecord
    ) -> None:
        """Run the approved call (confirm_cost: the person said yes) up to its recorded
        job, and follow that job; a call that ends at once completes the task."""
        args = {**task.arguments, "confirm_cost": True}
        context = self._context(ctx, task.tool, args)
        with handing_off(Handoff()) as handoff:
            try:
                result: CallToolResult | InputRequiredResult = await self.server.call_tool(
                    task.tool, args, context
                )
            except MCPError as exc:  # a JSON-RPC error: the one reason a task fails
                error = exc.error.model_dump(by_alias=True, exclude_none=True, mode="json")
                message = exc.error.message
                await runtime.run(
                    lambda s: s.update(
                        task.task_id,
                        when={"working"},
                        status="failed",
                        error=error,
                        status_message=message,
                    )
                )
                return
            except Exception as exc:  # noqa: BLE001 (a tool error: the blocking call's answer)
                result = CallToolResult(
                    content=[TextContent(type="text", text=str(exc))], is_error=True
                )
        if handoff.prediction is not None:
            moved = await runtime.run(lambda s: s.update(task.task_id, **job_fields(handoff)))
            if moved is not None and moved.status == "working":
                runtime.ensure_follower(moved, context)
            return
        dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        await runtime.run(
            lambda s: s.update(task.task_id, when={"working"}, status="completed", result=dumped)
        )
