"""AppState, what every tool call shares (`state(ctx)`); the roots decided at start."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar

from mcp.server.mcpserver import Context

from atlas_mcp_py.config import Settings
from atlas_mcp_py.files import AllowedRoots, too_broad
from atlas_mcp_py.generation import Services

__all__ = [
    "CLIENT_WAIT_LIMIT",
    "AppState",
    "default_roots",
    "state",
]

logger = logging.getLogger(__name__)


AppState = Services
"""What every tool call shares: the lifespan's `generation.Services`."""


CLIENT_WAIT_LIMIT: ContextVar[float | None] = ContextVar("client_wait_limit", default=None)
"""The calling client's request timeout, when it has shown one by abandoning a call (set
for each call by AtlasMCPServer.call_tool; `Hooks.time_limit` carries it to the waits)."""


def state(ctx: Context[AppState]) -> AppState:
    """This request's AppState (the one the lifespan yielded)."""
    return ctx.request_context.lifespan_context


NO_HTTP_ROOTS = (
    "this server runs over HTTP without ATLAS_MCP_ROOTS, so it reads and writes no local "
    "files (a client's roots name the client's machine, never the server's disk): set "
    "ATLAS_MCP_ROOTS on the server to the directories it may use, or pass an https:// URL "
    "as `image` and take the video from `video_url`"
)


def default_roots(settings: Settings, *, over_http: bool = False) -> AllowedRoots:
    """The roots decided at start, and what a client's roots may do to them (see
    `client_context.request_roots`): over HTTP only ATLAS_MCP_ROOTS, none without it; on stdio
    ATLAS_MCP_ROOTS (narrowed by client roots), else the client's roots, else the working
    directory unless that is a filesystem root or the home directory (then none)."""
    if settings.roots:
        return AllowedRoots.from_paths(
            settings.roots, "ATLAS_MCP_ROOTS", "ignore" if over_http else "narrow"
        )
    if over_http:
        return AllowedRoots((), "ATLAS_MCP_ROOTS", empty_reason=NO_HTTP_ROOTS)
    cwd = AllowedRoots.from_paths([os.getcwd()], "working directory", "replace")
    broad = next((too_broad(root) for root in cwd.roots if too_broad(root)), None)
    if broad is None:
        return cwd
    reason = (
        f"the working directory ({cwd.describe()}) is {broad}, which is never an allowed "
        "root, and the client offered no project folder: set ATLAS_MCP_ROOTS to the "
        "directories the server may use"
    )
    logger.warning(
        "the working directory (%s) is %s: local files need ATLAS_MCP_ROOTS, or a client "
        "that offers its project folder as a root",
        cwd.describe(),
        broad,
    )
    return AllowedRoots((), "working directory", "replace", reason)
