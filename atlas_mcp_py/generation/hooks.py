"""Hooks: what a paid call needs from whoever runs it.

A blocking MCP tool call, a background task and a test each build one `Hooks`: where
progress goes, whether the person approved the cost, which roots files may come from and
go to, when to stop waiting, the clock. The use cases call only these; nothing in this
room calls back up into the server.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from atlas_mcp_py.files import AllowedRoots
from atlas_mcp_py.jobs import Plan

__all__ = ["ConfirmFn", "Hooks", "ProgressFn", "RootsFn", "no_progress"]

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]
"""(progress, total, message) -> None: one progress report (`total` when one is known)."""

ConfirmFn = Callable[[Plan], Awaitable[str | None]]
"""The planned job -> None to go ahead, or the refusal to give (nothing is sent then)."""

RootsFn = Callable[[], Awaitable[AllowedRoots]]
"""The roots local files may be read from and results saved into, for this call."""


async def no_progress(progress: float, total: float | None, message: str) -> None:
    """A progress sink that drops every report."""


@dataclass(frozen=True)
class Hooks:
    """What one call's caller provides (see the module docstring)."""

    roots: RootsFn
    progress: ProgressFn = no_progress
    has_progress: bool = False
    """Do the progress reports reach anyone? Without them a caller's client may time out,
    so a wait is capped (`config.NO_PROGRESS_MAX_WAIT_SECONDS`) and sends no heartbeat."""
    time_limit: float | None = None
    """The caller's client's own time limit on a call, when known (it abandoned one after
    that long): a wait without progress ends before it, with the job's id."""
    confirm: ConfirmFn | None = None
    """Asked once the job is planned and priced, before anything is opened or sent;
    None: no confirmation needed."""
    stop: anyio.Event | None = None
    """Once set, a wait ends at once with its hand-off result (the server stops)."""
    clock: Callable[[], float] = time.monotonic
    """The monotonic clock of budgets and waits (the one the `Submitter` counts with)."""
    owner: str = ""
    """The user the call is for (a name from the HTTP tokens file; "" for the one
    trusted user): their jobs only are seen, checked and counted (duplicates, spend)."""
