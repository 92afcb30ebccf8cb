"""AppState, what every tool call shares; the roots decided at start."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import anyio
from mcp.server.mcpserver import Context

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.config import NO_PROGRESS_MAX_WAIT_SECONDS, Settings
from atlas_mcp_py.files.roots import AllowedRoots, too_broad
from atlas_mcp_py.files.uploads import UploadCache
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.durations import DurationHistory, ModelDurations, durations_from_ledger
from atlas_mcp_py.jobs.submit import Submitter

__all__ = [
    "AppState",
    "state",
    "wait_budget",
]

logger = logging.getLogger(__name__)


@dataclass
class AppState:
    """What every tool call shares for the life of the server."""

    settings: Settings
    client: AtlasClient
    roots: AllowedRoots
    """`default_roots`; on stdio `request_roots` narrows or replaces them by the client's."""
    book: JobBook
    """The job ledger (`book.set_local_path(id, path)` records a saved video)."""
    submitter: Submitter
    """Validation, duplicate guard, in-flight limit, submit-once and recovery."""
    uploads: UploadCache = field(default_factory=lambda: UploadCache(0.0))
    """Recent uploads by sha256, reused for `upload_reuse_seconds`."""
    durations: DurationHistory = field(default_factory=DurationHistory)
    """How long each model's recent jobs took: the poll schedule and the progress `total`."""
    stopping: anyio.Event = field(default_factory=anyio.Event)
    """Set on shutdown (SIGTERM/SIGINT): every wait ends at once with its hand-off result."""

    async def durations_of(self, model: str) -> ModelDurations:
        """The model's recent run times; the first call reads the ledger's into memory."""
        if not self.durations.seeded:
            self.durations.seeded = True  # before the await: one read for simultaneous waits
            done = await self.book.run(None, lambda ledger: ledger.recent(200, state="completed"))
            self.durations.seed(durations_from_ledger(done or [], self.settings.base_url))
        return self.durations.of(model)


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


def wait_budget(settings: Settings, requested: float | None, has_progress: bool) -> float:
    budget = settings.max_wait_seconds
    if requested is not None:
        budget = min(budget, requested)
    if not has_progress:
        budget = min(budget, NO_PROGRESS_MAX_WAIT_SECONDS)
    return max(0.0, budget)
