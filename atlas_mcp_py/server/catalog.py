"""atlas_list_models and atlas_upload_media."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from atlas_mcp_py.atlas import ModelInfo, model_takes
from atlas_mcp_py.files import UploadResult
from atlas_mcp_py.generation import upload_local
from atlas_mcp_py.server.arguments import within_limits
from atlas_mcp_py.server.client_context import call_hooks
from atlas_mcp_py.server.results import ModelList, summarise_model, tool_errors
from atlas_mcp_py.server.state import AppState, state

__all__ = [
    "atlas_list_models",
    "atlas_upload_media",
    "register",
]


async def atlas_list_models(
    ctx: Context[AppState],
    type: Annotated[
        Literal["video", "image", "audio", "text", "all"], Field(description="model kind")
    ] = "video",
    query: Annotated[str | None, Field(description="keyword in id, name or tags")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="most returned")] = 20,
) -> ModelList:
    """List Atlas models: price (USD), inputs (text/image/video) and frame parameters;
    an id is generate's `model`."""
    app = state(ctx)
    with tool_errors(app.settings.base_url):
        models = await app.client.list_models()
    matches = [m for m in models if _matches(m, type, query)]
    takes = await model_takes(app.client, matches[:limit])
    return ModelList(
        models=[
            summarise_model(m, takes[m.id].sources, takes[m.id].frames) for m in matches[:limit]
        ],
        total=len(matches),
    )


async def atlas_upload_media(
    ctx: Context[AppState],
    path: Annotated[str, Field(description="image/video/audio file inside the workspace")],
) -> UploadResult:
    """Upload a local media file; returns a temporary https URL for `image`."""
    app = state(ctx)
    with tool_errors(app.settings.base_url):
        within_limits(paths={"path": path})
        return await upload_local(app, call_hooks(ctx), path)


def _matches(model: ModelInfo, kind: str, query: str | None) -> bool:
    if kind != "all" and model.type != kind:
        return False
    if not query:
        return True
    haystack = " ".join((model.id, model.name, " ".join(model.tags))).lower()
    return all(word in haystack for word in query.lower().split())


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_list_models` and `atlas_upload_media`."""
    mcp.add_tool(
        atlas_list_models,
        title="List Atlas models",
        annotations=ToolAnnotations(
            read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    mcp.add_tool(
        atlas_upload_media,
        title="Upload a local file",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
