"""What each MCP protocol version gets: the one place that shapes results per version.

The SDK negotiates any handshake version (2024-11-05 ... 2025-11-25) but shapes every
result with the 2025-11-25 types, so an older client receives blocks and fields its
schema does not define: a `resource_link` content block makes the TypeScript SDK 1.12
and the Python SDK 1.9 (protocol 2025-03-26) throw on the whole result. `shape_for_version`
is a server middleware that sees each answer's wire form after the SDK built it and keeps
only what the negotiated version defines. The tools build one full result; nothing else
looks at the version.

What each version's published schema (`schema/<version>/schema.json` of the specification
repository) defines, as far as this server uses it:

- 2025-03-26: `Tool.annotations` (with a `title`), audio content, the `completions`
  capability, a progress `message`.
- 2025-06-18: `Tool.title`, `outputSchema`, `structuredContent`, `resource_link` blocks,
  `_meta` on tools and content blocks, `Implementation.title`, `ResourceTemplate.title`.
- 2025-11-25: `Tool.icons` and `execution`, `Implementation.description`/`websiteUrl`/`icons`,
  and (that version only: 2026-07-28 moved it to an extension) task augmentation: the
  `tasks` capability and `execution.taskSupport` on the generate tools
  (server/task_legacy.py serves it).

Without `structuredContent` (before 2025-06-18) the text content is the whole answer, so
every tool's text carries what the model needs (results.py). A handler learns the version
from `ctx.protocol_version` (the handshake's answer on a 2025-era connection, the request's
`_meta` envelope on 2026-07-28); `initialize` itself is shaped with the version it
negotiates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    KNOWN_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LATEST_PROTOCOL_VERSION,
)

from atlas_mcp_py.server.task_wire import LEGACY_TASKS_VERSION, TASK_TOOLS

__all__ = [
    "SUPPORTED_VERSIONS",
    "Surface",
    "report_progress",
    "shape_for_version",
    "shape_result",
    "surface",
]

SUPPORTED_VERSIONS: Final = KNOWN_PROTOCOL_VERSIONS
"""Every protocol version this server speaks (and the tests cover)."""
LEGACY_TASKS_CAPABILITY: Final[dict[str, Any]] = {
    "list": {},
    "cancel": {},
    "requests": {"tools": {"call": {}}},
}
"""2025-11-25 `ServerCapabilities.tasks`: tool calls as tasks, listed and cancelled."""
TASK_EXECUTION: Final = {"taskSupport": "optional"}


def _since(version: str, first: str) -> bool:
    return KNOWN_PROTOCOL_VERSIONS.index(version) >= KNOWN_PROTOCOL_VERSIONS.index(first)


@dataclass(frozen=True)
class Surface:
    """What one protocol version's schema defines, of what this server sends."""

    version: str

    @property
    def tool_annotations(self) -> bool:
        """`Tool.annotations` (hints and `title`), `AudioContent`, progress `message`."""
        return _since(self.version, "2025-03-26")

    @property
    def structured(self) -> bool:
        """`structuredContent`, `outputSchema`, `resource_link`, titles, `_meta`."""
        return _since(self.version, "2025-06-18")

    @property
    def legacy_tasks(self) -> bool:
        """2025-11-25's task augmentation (`params.task`, `tasks/result`)."""
        return self.version == LEGACY_TASKS_VERSION

    @property
    def icons(self) -> bool:
        """`icons`, `Tool.execution`, `Implementation.description`/`websiteUrl`."""
        return _since(self.version, "2025-11-25")


def surface(version: str | None) -> Surface:
    """The surface of `version`; an unknown or missing one gets the newest."""
    known = version if version in KNOWN_PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION
    return Surface(known)


async def report_progress(
    ctx: Context[Any, Any], progress: float, total: float | None, message: str
) -> None:
    """`ctx.report_progress`, with the `message` only where the version has one
    (2024-11-05 has none)."""
    shown = message if surface(ctx.protocol_version).tool_annotations else None
    await ctx.report_progress(progress, total, shown)


def _negotiated(params: Any) -> str:
    """The version the SDK answers an `initialize` with (mcp/server/runner.py)."""
    requested = params.get("protocolVersion") if isinstance(params, Mapping) else None
    return requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def _shape_tool(tool: dict[str, Any], s: Surface) -> dict[str, Any]:
    if s.legacy_tasks and tool.get("name") in TASK_TOOLS:
        tool = {**tool, "execution": TASK_EXECUTION}
    if not s.icons:
        tool = _without(tool, "icons", "execution")
    if s.structured:
        return tool
    title = tool.get("title")
    tool = _without(tool, "title", "outputSchema", "_meta")
    if not s.tool_annotations:
        return _without(tool, "annotations")
    if isinstance(title, str):  # 2025-03-26 has the title inside the annotations
        tool["annotations"] = {"title": title, **(tool.get("annotations") or {})}
    return tool


def _shape_block(block: Any, s: Surface) -> dict[str, Any] | None:
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "resource_link" and not s.structured:
        return None  # the text names the URL and the saved path
    if kind == "audio" and not s.tool_annotations:
        return None
    return block if s.structured else _without(block, "_meta")


def _shape_call(result: dict[str, Any], s: Surface) -> dict[str, Any]:
    if s.structured:
        return result
    blocks = [_shape_block(b, s) for b in result.get("content") or []]
    content = [b for b in blocks if b is not None]
    return {**_without(result, "structuredContent"), "content": content}


def _shape_initialize(result: dict[str, Any], s: Surface) -> dict[str, Any]:
    info = result.get("serverInfo")
    if isinstance(info, dict) and not s.icons:
        info = _without(info, "description", "websiteUrl", "icons")
        if not s.structured:
            info = _without(info, "title")
        result = {**result, "serverInfo": info}
    capabilities = result.get("capabilities")
    if isinstance(capabilities, dict):
        dropped: tuple[str, ...] = ("extensions",)  # 2026-07-28 only: not on a handshake
        if not s.icons:
            dropped += ("tasks",)
        if not s.tool_annotations:
            dropped += ("completions",)
        capabilities = _without(capabilities, *dropped)
        if s.legacy_tasks:
            capabilities["tasks"] = LEGACY_TASKS_CAPABILITY
        result = {**result, "capabilities": capabilities}
    return result


def shape_result(method: str, version: str | None, result: dict[str, Any]) -> dict[str, Any]:
    """`result`, the wire form of the answer to `method`, as `version` defines it."""
    s = surface(version)
    if method == "initialize":
        return _shape_initialize(result, s)
    if method == "tools/list" and isinstance(result.get("tools"), list):
        return {**result, "tools": [_shape_tool(t, s) for t in result["tools"]]}
    if method == "tools/call":
        return _shape_call(result, s)
    if method == "resources/templates/list" and not s.structured:
        templates = result.get("resourceTemplates") or []
        return {**result, "resourceTemplates": [_without(t, "title") for t in templates]}
    if method == "resources/list" and not s.structured:
        resources = result.get("resources") or []
        return {**result, "resources": [_without(r, "title") for r in resources]}
    return result


async def shape_for_version(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Server middleware: every answer shaped for the connection's protocol version."""
    result = await call_next(ctx)
    if not isinstance(result, dict):
        return result
    if ctx.method == "initialize":
        return shape_result("initialize", _negotiated(ctx.params), result)
    return shape_result(ctx.method, ctx.protocol_version, result)
