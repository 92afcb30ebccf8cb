"""A minimal Tasks requester on the Python SDK client, for the in-process tests (the
official TypeScript requester, @modelcontextprotocol/ext-tasks, is driven by the e2e
tests): it declares `io.modelcontextprotocol/tasks`, sees a `tools/call` answer as
either a `CallToolResult` or a task handle, and sends `tasks/get|update|cancel`."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.types import CallToolResult
from mcp_types import Request, RequestParams, Result
from pydantic import ConfigDict, Field

TASKS = "io.modelcontextprotocol/tasks"


class CreateTask(Result):
    """The handle: a flat Task with `resultType: "task"` (kept whole in `extra`)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str


async def _never(result: CreateTask, ctx: ClaimContext) -> CallToolResult:
    raise AssertionError("tests read the handle with allow_claimed=True")


class TasksRequester(ClientExtension):
    identifier = TASKS

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTask, resolve=_never)]


class _Params(RequestParams):
    model_config = ConfigDict(extra="allow")
    task_id: str = Field(alias="taskId")


class _TaskRequest(Request[_Params, str]):
    name_param = "taskId"


class _Answer(Result):
    model_config = ConfigDict(extra="allow")


def wire(model: Any) -> dict[str, Any]:
    """A result as it was on the wire (aliases, extra fields, nothing None)."""
    data: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    """The `tools/call` answer: a CallToolResult, or a CreateTask handle."""
    return await client.session.call_tool(tool, arguments, allow_claimed=True)


async def send(client: Client, method: str, task_id: str, **params: Any) -> dict[str, Any]:
    request = _TaskRequest(method=method, params=_Params(taskId=task_id, **params))
    return wire(await client.session.send_request(request, _Answer))


async def get(client: Client, task_id: str) -> dict[str, Any]:
    return await send(client, "tasks/get", task_id)


async def until(
    client: Client, task_id: str, *statuses: str, seen: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Poll `tasks/get` (fast: the simulator's jobs are short) until one of `statuses`."""
    while True:
        task = await get(client, task_id)
        if seen is not None:
            seen.append(task)
        if task["status"] in statuses:
            return task
        await anyio.sleep(0.02)
