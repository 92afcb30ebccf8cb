"""atlas_generate_video and atlas_generate_image: the paid call (`generation.generate`)
as MCP tools, the cost asked before they run."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from atlas_mcp_py.generation import GenerateRequest, JobResult
from atlas_mcp_py.generation import generate as run_generate
from atlas_mcp_py.jobs import GenerateArgs
from atlas_mcp_py.server.arguments import (
    AllowDuplicate,
    ConfirmCost,
    DryRun,
    MaxWait,
    Overwrite,
    Params,
    within_limits,
)
from atlas_mcp_py.server.client_context import call_hooks
from atlas_mcp_py.server.cost import CostApproval, approved, ask_cost, ask_image_cost
from atlas_mcp_py.server.results import tool_errors, tool_result
from atlas_mcp_py.server.state import AppState, state
from atlas_mcp_py.server.task_handoff import current_handoff, submit_for_task

__all__ = [
    "atlas_generate_image",
    "atlas_generate_video",
    "generate",
    "register",
]


IMAGE_PARAMS_HINT: dict[str, Any] = {"properties": {"aspect_ratio": {"type": "string"}}}
"""`PARAMS_HINT` for image models: the one parameter most of them share."""


async def atlas_generate_video(
    ctx: Context[AppState],
    prompt: Annotated[str | None, Field(min_length=1, description="what the video shows")] = None,
    model: Annotated[str | None, Field(description="model id; default picks by image")] = None,
    image: Annotated[
        str | None,
        Field(description="first frame: https URL or local path"),
    ] = None,
    end_image: Annotated[str | None, Field(description="last frame, like image")] = None,
    duration: Annotated[int | None, Field(description="seconds, e.g. 6 or 10")] = None,
    resolution: Annotated[str | None, Field(description="e.g. 720p, if offered")] = None,
    params: Params = None,
    wait: Annotated[bool, Field(description="wait for the video (false: return the id)")] = True,
    max_wait_seconds: MaxWait = None,
    dry_run: DryRun = False,
    save_to: Annotated[str | None, Field(description="save video here (in roots)")] = None,
    overwrite: Overwrite = False,
    allow_duplicate: AllowDuplicate = False,
    confirm_cost: ConfirmCost = False,
    approval: Annotated[ElicitationResult[CostApproval], Resolve(ask_cost)] = None,  # type: ignore[assignment]
) -> Annotated[CallToolResult, JobResult]:
    """Generate a video (billed per job; never twice). Waits with progress, returns
    video_url; if still running at the wait limit, its prediction_id for atlas_check_status."""
    args = GenerateArgs(model, prompt, image, end_image, duration, resolution, params)
    request = GenerateRequest(
        args, wait, max_wait_seconds, dry_run, save_to, overwrite, allow_duplicate
    )
    return await generate(ctx, request, approval)


async def atlas_generate_image(
    ctx: Context[AppState],
    prompt: Annotated[str, Field(min_length=1, description="what the image shows")],
    model: Annotated[str | None, Field(description="image model id")] = None,
    image: Annotated[str | None, Field(description="to edit: URL or local path")] = None,
    params: Annotated[
        dict[str, Any] | None,
        Field(description="other model parameters", json_schema_extra=IMAGE_PARAMS_HINT),
    ] = None,
    wait: Annotated[bool, Field(description="false: return the id at once")] = True,
    max_wait_seconds: MaxWait = None,
    dry_run: DryRun = False,
    save_to: Annotated[str | None, Field(description="save image here (in roots)")] = None,
    allow_duplicate: AllowDuplicate = False,
    confirm_cost: ConfirmCost = False,
    approval: Annotated[ElicitationResult[CostApproval], Resolve(ask_image_cost)] = None,  # type: ignore[assignment]
) -> Annotated[CallToolResult, JobResult]:
    """Generate an image (billed per job; never twice). Its image_url or local_path
    can be atlas_generate_video's `image`."""
    args = GenerateArgs(model, prompt, image, params=params, kind="image")
    # no `overwrite`: a name that exists is refused; atlas_check_status may overwrite it
    request = GenerateRequest(
        args, wait, max_wait_seconds, dry_run, save_to, False, allow_duplicate
    )
    return await generate(ctx, request, approval)


async def generate(
    ctx: Context[AppState],
    request: GenerateRequest,
    approval: ElicitationResult[CostApproval],
) -> CallToolResult:
    """One generate call, video or image (`request.args.kind`), as a tool result."""
    args = request.args
    frames_and_save = {"image": args.image, "end_image": args.end_image, "save_to": request.save_to}
    with tool_errors(state(ctx).settings.base_url):
        within_limits(prompt=args.prompt, paths=frames_and_save)
        hooks = call_hooks(ctx, confirm=approved(approval))
        handoff = current_handoff()
        if handoff is not None and request.wait and not request.dry_run:
            # served as a task (server/tasks.py): up to the recorded job, no wait here
            return tool_result(await submit_for_task(state(ctx), hooks, request, handoff))
        return tool_result(await run_generate(state(ctx), hooks, request))


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_generate_video` and `atlas_generate_image`."""
    for tool, title in (
        (atlas_generate_video, "Generate a video with Atlas"),
        (atlas_generate_image, "Generate an image"),
    ):
        annotations = ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        )
        mcp.add_tool(tool, title=title, annotations=annotations)
