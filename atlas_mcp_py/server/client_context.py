"""What the connected client tells (its roots, its progress token), as the hooks a use
case runs a tool call with (`call_hooks`)."""

from __future__ import annotations

import logging
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from atlas_mcp_py.config import Settings
from atlas_mcp_py.files import AllowedRoots, too_broad
from atlas_mcp_py.generation import ConfirmFn, Hooks
from atlas_mcp_py.server.protocol import report_progress
from atlas_mcp_py.server.sdk_private import connection_state, progress_requested
from atlas_mcp_py.server.state import CLIENT_WAIT_LIMIT, AppState
from atlas_mcp_py.server.users import user_of

__all__ = [
    "call_hooks",
    "has_progress_token",
    "request_roots",
    "roots_from_uris",
]

logger = logging.getLogger(__name__)

ROOTS_TIMEOUT_SECONDS = 5.0


_CACHE_KEY = "atlas_mcp_py.client_roots"


def roots_from_uris(uris: list[str]) -> AllowedRoots | None:
    """Allowed roots from a client's `file://` root URIs, or None when none is usable.

    Other schemes are ignored; a filesystem root or the home directory (or above it) is
    refused with a warning on stderr: a client root never opens the whole disk or home.
    """
    paths: list[Path] = []
    for uri in uris:
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            continue
        path = urllib.request.url2pathname(parts.path)
        if path and "\x00" not in path:
            paths.append(Path(path))
    offered = AllowedRoots.from_paths(paths, "client roots")
    usable: list[Path] = []
    for root in offered.roots:
        reason = too_broad(root)
        if reason is None:
            usable.append(root)
        else:
            logger.warning(
                "ignoring the client root %s: it is %s, which is never an allowed root; "
                "open a project folder in the client or set ATLAS_MCP_ROOTS",
                root,
                reason,
            )
    return AllowedRoots(tuple(usable), "client roots") if usable else None


def _connection_state(ctx: Context[Any]) -> dict[str, Any] | None:
    """The connection's scratch dict: client roots are asked once per connection.

    The SDK keeps it on the connection, which the per-request session does not expose
    publicly; without it the roots are asked on every call (still correct).
    """
    return connection_state(ctx.request_context.session)


async def _ask_client(ctx: Context[Any]) -> AllowedRoots | None:
    request = ctx.request_context
    if request.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    capabilities = request.session.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return None
    try:
        with warnings.catch_warnings():
            # roots/list is deprecated from 2026-07-28; on this 2025-era connection it is
            # the only way to learn the client's workspace.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            pending = request.session.list_roots()
        with anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
            answer = await pending
    except (MCPError, TimeoutError, ValidationError) as exc:
        logger.info("the client's roots are unavailable (%s); using the fallback", exc)
        return None
    roots = roots_from_uris([str(root.uri) for root in answer.roots])
    if roots is None:
        logger.info("the client offered no usable file:// root; using the fallback")
    return roots


async def request_roots(
    ctx: Context[Any], settings: Settings, fallback: AllowedRoots
) -> AllowedRoots:
    """The roots for this request (see the module docstring); `fallback` is what
    `server.state.default_roots` decided at start, and says what client roots may do to it."""
    if fallback.client_roots == "ignore":
        return fallback
    state = _connection_state(ctx)
    if state is not None and _CACHE_KEY in state:
        cached: AllowedRoots = state[_CACHE_KEY]
        return cached
    roots = _with_client_roots(fallback, await _ask_client(ctx))
    if state is not None:
        state[_CACHE_KEY] = roots
    return roots


def _with_client_roots(fallback: AllowedRoots, offered: AllowedRoots | None) -> AllowedRoots:
    if offered is None:
        return fallback
    if fallback.client_roots == "replace":
        return offered
    narrowed = fallback.narrowed_to(offered)
    if narrowed.roots:
        return narrowed
    logger.warning(
        "no client root (%s) overlaps ATLAS_MCP_ROOTS (%s); using ATLAS_MCP_ROOTS",
        offered.describe(),
        fallback.describe(),
    )
    return fallback


def call_hooks(ctx: Context[AppState], *, confirm: ConfirmFn | None = None) -> Hooks:
    """The hooks a use case runs this tool call with: progress to the client (shaped for
    its protocol version), the roots it grants, the server's stop, `confirm` (the cost
    question's answer, asked before the tool ran)."""
    app: AppState = ctx.request_context.lifespan_context

    async def progress(value: float, total: float | None, message: str) -> None:
        await report_progress(ctx, value, total, message)

    async def roots() -> AllowedRoots:
        return await request_roots(ctx, app.settings, app.roots)

    return Hooks(
        roots=roots,
        progress=progress,
        has_progress=has_progress_token(ctx),
        time_limit=CLIENT_WAIT_LIMIT.get(),
        confirm=confirm,
        stop=app.stopping,
        owner=user_of(ctx),
    )


def has_progress_token(ctx: Context[AppState]) -> bool:
    """Did the caller ask for progress notifications (send a progressToken)?"""
    meta = ctx.request_context.meta
    if isinstance(meta, Mapping) and any(
        meta.get(k) is not None for k in ("progressToken", "progress_token")
    ):
        return True
    return progress_requested(ctx.request_context.session)
