"""The MCP side of local files: which roots apply to a request, upload progress, and the
resource link to a saved video. `files.py` and `downloads.py` know nothing of MCP.

Which roots apply is decided at start (`server.default_roots`) and per connection here:

- over HTTP, only `ATLAS_MCP_ROOTS`: the client's roots name directories of the client's
  machine and never grant anything on the server's disk (they are not even asked for);
  without `ATLAS_MCP_ROOTS` every local path is refused, saying to set it;
- on stdio, the roots the client offers (a 2025-era connection whose client declared the
  `roots` capability: the request is deprecated and has no back channel on 2026-07-28),
  asked once per connection, narrow `ATLAS_MCP_ROOTS` when it is set and stand in for the
  working directory when it is not. A client root that is a filesystem root (`/`, a drive)
  or the home directory (or above it) is refused with a log line; when no usable client
  root remains (or, with `ATLAS_MCP_ROOTS`, none overlaps it) the start-up roots apply.

Client roots are checked with the same component-wise rules, never trusted as given.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import ResourceLink
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from atlas_mcp_py.client import ProgressFn
from atlas_mcp_py.config import Settings
from atlas_mcp_py.downloads import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, SavePlan, plan_save
from atlas_mcp_py.files import (
    AllowedRoots,
    FileRefused,
    UploadSource,
    frame_source,
    prepare_upload,
    too_broad,
)
from atlas_mcp_py.protocol import report_progress
from atlas_mcp_py.results import JobResult

__all__ = [
    "file_link",
    "human_size",
    "local_frames",
    "open_sources",
    "plan_destination",
    "request_roots",
    "roots_from_uris",
    "upload_progress",
]

logger = logging.getLogger(__name__)

ROOTS_TIMEOUT_SECONDS = 5.0
PROGRESS_INTERVAL_SECONDS = 0.5
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
    connection = getattr(ctx.request_context.session, "_connection", None)
    state = getattr(connection, "state", None)
    return state if isinstance(state, dict) else None


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
    `server.default_roots` decided at start, and says what client roots may do to it."""
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


def human_size(size: int) -> str:
    """1.2 GB, 3.4 MB, 56 kB or 789 bytes (never "0.0 MB" for a small file)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} kB" if size >= 1e3 else f"{size} bytes"


def upload_progress(ctx: Context[Any], filename: str) -> ProgressFn:
    """Progress notifications for an upload: bytes sent of the total, at most twice a
    second, and always the last one (a no-op when the caller sent no progress token)."""
    last = -float("inf")

    async def report(sent: int, size: int) -> None:
        nonlocal last
        now = time.monotonic()
        if sent < size and now - last < PROGRESS_INTERVAL_SECONDS:
            return
        last = now
        percent = sent * 100 // size if size else 100
        message = f"Uploading {filename}: {percent}% of {human_size(size)}"
        await report_progress(ctx, sent, size, message)

    return report


def file_link(result: JobResult) -> ResourceLink | None:
    """A resource link to the saved video (or image), when there is one."""
    if not result.local_path:
        return None
    path = Path(result.local_path)
    suffix = path.suffix.lower()
    return ResourceLink(
        type="resource_link",
        uri=path.as_uri(),
        name=os.path.basename(path),
        mime_type=IMAGE_EXTENSIONS.get(suffix) or VIDEO_EXTENSIONS.get(suffix, "video/mp4"),
        size=result.size_bytes,
    )


def local_frames(frames: dict[str, str]) -> dict[str, str]:
    """The frame arguments that are local paths; any non-http(s) URL is a tool error."""
    local: dict[str, str] = {}
    for name, value in frames.items():
        try:
            if frame_source(value) == "path":
                local[name] = value
        except ValueError as exc:
            raise ToolError(f"`{name}`: {exc}. Nothing was sent.") from None
    return local


async def open_sources(
    ctx: Context[Any], settings: Settings, fallback: AllowedRoots, paths: dict[str, str]
) -> list[UploadSource]:
    """Every check on every local path before any is sent; a refusal is a tool error
    (and closes what was already opened)."""
    roots = await request_roots(ctx, settings, fallback)
    sources: list[UploadSource] = []
    try:
        for name, raw in paths.items():
            try:
                sources.append(prepare_upload(roots, raw, max_bytes=settings.max_upload_bytes))
            except FileRefused as exc:
                what = f"`{name}` " if name != "path" else ""
                raise ToolError(
                    f"Refused to upload {what}{raw!r}: {exc}. Nothing was sent."
                ) from None
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources


async def plan_destination(
    ctx: Context[Any],
    settings: Settings,
    fallback: AllowedRoots,
    save_to: str | None,
    overwrite: bool,
) -> SavePlan | None:
    """The checked `save_to` (None when not asked); a refusal is a tool error."""
    if save_to is None:
        return None
    roots = await request_roots(ctx, settings, fallback)
    try:
        return plan_save(roots, save_to, overwrite=overwrite)
    except FileRefused as exc:
        raise ToolError(f"Refused save_to {save_to!r}: {exc}. Nothing was sent.") from None
