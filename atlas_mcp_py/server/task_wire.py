"""The wire shapes of the MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663).

Field names and required keys follow the extension's published schema
(modelcontextprotocol/ext-tasks, `schema/draft/schema.json`; the tests validate what
this server sends against a copy of it, tests/fixtures/ext-tasks-schema.json): a flat
`CreateTaskResult` (`resultType: "task"`), `tasks/get` answering a `DetailedTask` with
`resultType: "complete"`, `tasks/update` and `tasks/cancel` answering an empty
acknowledgement, and `notifications/tasks` carrying the same `DetailedTask`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from mcp_types import RequestParams
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CLIENT_CAPABILITIES_META",
    "TASKS_EXTENSION",
    "TaskIdParams",
    "TaskStatus",
    "TaskView",
    "UpdateTaskParams",
    "client_wants_tasks",
]

TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"
CLIENT_CAPABILITIES_META: Final = "io.modelcontextprotocol/clientCapabilities"

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})


class TaskIdParams(RequestParams):
    """`tasks/get` and `tasks/cancel` params."""

    task_id: str = Field(alias="taskId", min_length=1)


class UpdateTaskParams(TaskIdParams):
    """`tasks/update` params: answers to the task's outstanding `inputRequests`."""

    input_responses: dict[str, dict[str, Any]] = Field(alias="inputResponses")


class TaskView(BaseModel):
    """One task as the wire shows it (`Task` plus the status's inlined payload field)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    task_id: str = Field(alias="taskId")
    status: TaskStatus
    status_message: str | None = Field(default=None, alias="statusMessage")
    created_at: str = Field(alias="createdAt")
    last_updated_at: str = Field(alias="lastUpdatedAt")
    ttl_ms: int | None = Field(alias="ttlMs")
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")
    input_requests: dict[str, Any] | None = Field(default=None, alias="inputRequests")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def detailed(self) -> dict[str, Any]:
        """The `DetailedTask` wire form: only the payload field its status defines."""
        payload = {"input_required": "inputRequests", "completed": "result", "failed": "error"}
        keep = payload.get(self.status)
        data = self.model_dump(by_alias=True, exclude_none=True)
        for key in ("inputRequests", "result", "error"):
            if key != keep:
                data.pop(key, None)
        if "ttlMs" not in data:
            data["ttlMs"] = None  # required, null for unlimited
        return data

    def created(self) -> dict[str, Any]:
        """The `CreateTaskResult` a `tools/call` answers with (a flat `Task`)."""
        data = {k: v for k, v in self.detailed().items() if k not in ("inputRequests",)}
        return {"resultType": "task", **data}

    def got(self) -> dict[str, Any]:
        """The `GetTaskResult` of `tasks/get`."""
        return {"resultType": "complete", **self.detailed()}


def client_wants_tasks(params: Any) -> bool:
    """Whether this request's `_meta` client capabilities declare the extension (the
    spec's per-request opt-in: without it a task must never be returned)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    capabilities = meta.get(CLIENT_CAPABILITIES_META) if isinstance(meta, dict) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)
