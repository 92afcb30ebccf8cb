"""atlas_list_models and atlas_upload_media."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from atlas_mcp_py.atlas.capabilities import model_takes
from atlas_mcp_py.atlas.models import ModelInfo
from atlas_mcp_py.errors import AtlasError
from atlas_mcp_py.files.uploads import UploadResult, upload_file
from atlas_mcp_py.server.arguments import within_limits
from atlas_mcp_py.server.client_context import open_sources, upload_progress
from atlas_mcp_py.server.results import ModelList, summarise_model, tool_error
from atlas_mcp_py.server.state import AppState, state

__all__ = [
    "atlas_list_models",
    "atlas_upload_media",
    "register",
    "upload_local",
]


async def atlas_list_models(
    ctx: Context[AppState],
    type: Annotated[
        Literal["video", "image", "audio", "text", "all"], Field(description="model kind")
    ] = "video",
    query: Annotated[str | None, Field(description="keyword in id, name or tags")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="most models returned")] = 20,
) -> ModelList:
    """List Atlas models: price (USD), inputs (text/image/video) and frame parameters.
    Use an id as `model` in generate."""
    app = state(ctx)
    try:
        models = await app.client.list_models()
    except AtlasError as exc:
        raise tool_error(exc, base_url=app.settings.base_url) from None
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
    """Upload a local media file; returns a temporary https URL usable as `image`."""
    app = state(ctx)
    within_limits(paths={"path": path})
    return await upload_local(app, ctx, path)


async def upload_local(app: AppState, ctx: Context[AppState], raw_path: str) -> UploadResult:
    """Upload one file inside the roots, reporting progress; Atlas errors become tool errors."""
    (source,) = await open_sources(ctx, app.settings, app.roots, {"path": raw_path})
    try:
        app.settings.require_api_key()
        progress = upload_progress(ctx, source.filename)
        return (await upload_file(app.client, source, app.uploads, on_progress=progress))[0]
    except AtlasError as exc:
        raise tool_error(exc, base_url=app.settings.base_url) from None
    finally:
        source.close()


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
        title="Upload a local file to Atlas",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
