"""atlas_check_status: a job followed by id (`generation.following`) as an MCP tool."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from atlas_mcp_py.generation import JobResult, follow
from atlas_mcp_py.server.arguments import Overwrite, within_limits
from atlas_mcp_py.server.client_context import call_hooks
from atlas_mcp_py.server.results import tool_errors, tool_result
from atlas_mcp_py.server.state import AppState, state

__all__ = ["atlas_check_status", "register"]


async def atlas_check_status(
    ctx: Context[AppState],
    prediction_id: Annotated[str, Field(min_length=1, description="from generate")],
    wait: Annotated[bool, Field(description="wait for the end, with progress")] = False,
    max_wait_seconds: Annotated[float | None, Field(ge=0, description="cap on the wait")] = None,
    save_to: Annotated[str | None, Field(description="save result here (in roots)")] = None,
    overwrite: Overwrite = False,
) -> Annotated[CallToolResult, JobResult]:
    """Status of a video or image job; its URL once done. wait=true waits like
    generate."""
    app = state(ctx)
    with tool_errors(app.settings.base_url):
        within_limits(prediction_id=prediction_id, paths={"save_to": save_to})
        result = await follow(
            app,
            call_hooks(ctx),
            prediction_id,
            wait=wait,
            max_wait_seconds=max_wait_seconds,
            save_to=save_to,
            overwrite=overwrite,
        )
    return tool_result(result)


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_check_status`."""
    mcp.add_tool(
        atlas_check_status,
        title="Check an Atlas job",
        annotations=ToolAnnotations(  # not read-only: save_to writes a file
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
