"""The MCP Apps player (extension `io.modelcontextprotocol/ui`): a `ui://` resource, bound
to the job tools for the clients that render MCP Apps, and to no one else.

The player (`player.html`, one self-contained document) shows a job's video or still with
its prompt, model, duration, estimated cost, expiry and saved path, polls a running job
with `atlas_check_status`, reads the rest from the `atlas://jobs/{prediction_id}` resource
and acts only through the host: "Save to workspace" is `atlas_check_status` with
`save_to: "./"` (the same roots and checks as any save), "Animate this still" and "Try
again" are generate calls, which ask for the cost like any other.

What a client sees depends on what it advertised (`client_supports_apps`): one that renders
MCP Apps gets `_meta.ui.resourceUri` on the bound tools and the player in `resources/list`;
any other client gets exactly what it got before this module existed (tools/list is read in
every conversation, and a client without Apps has no use for the binding). Tool results
are the same for both.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from atlas_mcp_py.config import Settings

__all__ = [
    "BOUND_TOOLS",
    "PLAYER_URI",
    "apps_for_client",
    "media_domains",
    "player_extension",
    "player_html",
]

PLAYER_URI: Final = "ui://atlas/player"
BOUND_TOOLS: Final = ("atlas_generate_video", "atlas_generate_image", "atlas_check_status")
"""The tools whose results the player shows."""
ATLAS_MEDIA: Final = "https://*.atlascloud.ai"
"""Atlas's own hosts (its static host serves schemas and sample media); the API's origin
is added from the settings, which is where the simulator serves its outputs."""


def player_html() -> str:
    """The player document, shipped as package data beside this module."""
    return resources.files(__package__).joinpath("player.html").read_text(encoding="utf-8")


def media_domains(settings: Settings) -> list[str]:
    """The origins the player may load video and images from (its CSP `resourceDomains`)."""
    parts = urlsplit(settings.base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return [origin] if origin == ATLAS_MEDIA else [origin, ATLAS_MEDIA]


def player_extension(settings: Settings) -> Apps:
    """The Apps extension holding the player resource (`MCPServer(extensions=[...])`)."""
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        player_html(),
        name="player",
        title="Atlas player",
        description="Plays a job's video or image; shows its status, cost and expiry.",
        csp=ResourceCsp(resource_domains=media_domains(settings)),
        prefers_border=True,
    )
    return apps


def _bound(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("name") not in BOUND_TOOLS:
        return tool
    meta = tool.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    return {**tool, "_meta": {**meta, "ui": {"resourceUri": PLAYER_URI}}}


def _is_player(resource: Any) -> bool:
    return isinstance(resource, dict) and str(resource.get("uri", "")).startswith("ui://")


async def apps_for_client(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Server middleware: the player bound to the job tools (and listed) for a client that
    renders MCP Apps; hidden from any other. Runs inside `shape_for_version`, which then
    drops `_meta` where the protocol version has none."""
    result = await call_next(ctx)
    if not isinstance(result, dict) or ctx.method not in ("tools/list", "resources/list"):
        return result
    apps = client_supports_apps(ctx)
    if ctx.method == "tools/list" and apps and isinstance(result.get("tools"), list):
        return {**result, "tools": [_bound(tool) for tool in result["tools"]]}
    if ctx.method == "resources/list" and not apps and isinstance(result.get("resources"), list):
        return {**result, "resources": [r for r in result["resources"] if not _is_player(r)]}
    return result
