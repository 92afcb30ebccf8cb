"""Services: the long-lived parts a paid call uses (client, ledger, submitter, caches).

One `Services` lives as long as the server (the MCP lifespan yields it as its state), or
as long as whatever else runs paid calls: a background task, a test. Nothing here knows
who is calling; what differs per call comes in through `hooks.Hooks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from atlas_mcp_py.atlas import AtlasClient
from atlas_mcp_py.config import NO_PROGRESS_MAX_WAIT_SECONDS, Settings
from atlas_mcp_py.files import AllowedRoots, UploadCache
from atlas_mcp_py.jobs import (
    DurationHistory,
    JobBook,
    ModelDurations,
    Submitter,
    durations_from_ledger,
)

__all__ = ["Services", "wait_budget"]


@dataclass
class Services:
    """What every paid call shares for the life of the server."""

    settings: Settings
    client: AtlasClient
    roots: AllowedRoots
    """The roots decided at start; a caller's `Hooks.roots` may narrow or replace them."""
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


def wait_budget(
    settings: Settings,
    requested: float | None,
    has_progress: bool,
    time_limit: float | None = None,
) -> float:
    """How long a call may wait on its job: the server's cap, the caller's, and (when no
    progress reaches the caller, whose client may time out) the no-progress cap, and a
    second less than the client's own limit when it is known (a fifth, above 5 s)."""
    budget = settings.max_wait_seconds
    if requested is not None:
        budget = min(budget, requested)
    if not has_progress:
        budget = min(budget, NO_PROGRESS_MAX_WAIT_SECONDS)
        if time_limit is not None:
            budget = min(budget, time_limit - max(1.0, time_limit / 5))
    return max(0.0, budget)
