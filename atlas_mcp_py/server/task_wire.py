"""The wire shapes of the MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663).

Field names and required keys follow the extension's published schema
(modelcontextprotocol/ext-tasks, `schema/draft/schema.json`; the tests validate what
this server sends against a copy of it, tests/fixtures/ext-tasks-schema.json): a flat
`CreateTaskResult` (`resultType: "task"`), `tasks/get` answering a `DetailedTask` with
`resultType: "complete"`, `tasks/update` and `tasks/cancel` answering an empty
acknowledgement, and `notifications/tasks` carrying the same `DetailedTask`.

The 2025-11-25 protocol had tasks in its core (`schema/2025-11-25/schema.json` of
modelcontextprotocol/modelcontextprotocol; tests/fixtures/mcp-2025-11-25-tasks-schema.json):
a request opts in with `params.task`, the answer is `{"task": Task}`, a `Task` names its
lifetime `ttl` and its poll hint `pollInterval`, and the payload is fetched with
`tasks/result`. `legacy_task` is the same task in that shape.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from mcp_types import RequestParams
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CLIENT_CAPABILITIES_META",
    "LEGACY_TASKS_VERSION",
    "RELATED_TASK_META",
    "TASKS_EXTENSION",
    "TASK_TOOLS",
    "TaskIdParams",
    "TaskStatus",
    "TaskView",
    "UpdateTaskParams",
    "client_wants_tasks",
    "legacy_task",
]

TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"
CLIENT_CAPABILITIES_META: Final = "io.modelcontextprotocol/clientCapabilities"
LEGACY_TASKS_VERSION: Final = "2025-11-25"
"""The one handshake-era version whose core has task augmentation (`params.task`)."""
RELATED_TASK_META: Final = "io.modelcontextprotocol/related-task"
TASK_TOOLS: Final = frozenset({"atlas_generate_video", "atlas_generate_image"})
"""The tools a call of which may become a task."""

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


def legacy_task(view: TaskView) -> dict[str, Any]:
    """The 2025-11-25 `Task`: the same fields, `ttl` and `pollInterval` for `ttlMs` and
    `pollIntervalMs`, no payload (that era fetches it with `tasks/result`)."""
    data = view.model_dump(by_alias=True, exclude_none=True)
    for key in ("inputRequests", "result", "error"):
        data.pop(key, None)
    data["ttl"] = data.pop("ttlMs", None)
    if "pollIntervalMs" in data:
        data["pollInterval"] = data.pop("pollIntervalMs")
    return data


def client_wants_tasks(params: Any) -> bool:
    """Whether this request's `_meta` client capabilities declare the extension (the
    spec's per-request opt-in: without it a task must never be returned)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    capabilities = meta.get(CLIENT_CAPABILITIES_META) if isinstance(meta, dict) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)
