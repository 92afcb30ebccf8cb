"""The durable job ledger: every paid job, written down before the server waits on it.

A generate call writes its row before the POST (`state: "submitting"`), fills in the
prediction id when Atlas answers, marks it `"unknown"` when the answer was lost, and
updates it on every status the server observes later.

The parts: `records` (the row shape, `JobRecord`), `ledger` (the SQLite file,
`Ledger`: synchronous, usable by tests and other processes), `ledger_pg` (the same in
PostgreSQL, for replicas), `backend` (the interface and which one) and, here, `JobBook`, what
the server holds: the same calls run in a worker thread, and a ledger that cannot be
opened or written turns into a warning in results, never a failed tool, with one
exception: a paid request is sent only once its row is written (`JobBook.run_or_raise`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.backend import JobLedger, open_ledger, shown_location
from atlas_mcp_py.jobs.records import JobRecord

__all__ = [
    "JobBook",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class JobBook:
    """The ledger as the server uses it: off the event loop, and never fatal.

    When the ledger could not be opened, every call returns None and `warning` says why;
    when one write fails, the call returns None and the caller's `notes` get a line.
    """

    def __init__(
        self, ledger: JobLedger | None, location: str | Path, problem: str | None = None
    ) -> None:
        self.ledger = ledger
        self.path = shown_location(location)
        """Where the ledger is, as messages show it (a database URL without password)."""
        self.problem = problem

    @classmethod
    async def open(cls, location: str | Path) -> JobBook:
        """The ledger at `location`: a SQLite file path or a `postgresql://` URL."""
        try:
            ledger = await anyio.to_thread.run_sync(open_ledger, location)
        except LedgerError as exc:
            logger.warning("job ledger disabled: %s", exc)
            return cls(None, location, str(exc))
        logger.info("job ledger: %s", shown_location(location))
        return cls(ledger, location)

    @property
    def available(self) -> bool:
        return self.ledger is not None

    @property
    def warning(self) -> str | None:
        """The note every result carries while the ledger is unavailable."""
        if self.ledger is not None:
            return None
        return (
            f"Warning: the job ledger is unavailable ({self.problem}), so jobs are not "
            "recorded, the duplicate guard is off and atlas_list_jobs cannot help. Set "
            "ATLAS_MCP_STATE_DIR to a writable directory (or move the damaged file aside) "
            "and restart the server."
        )

    def add_warning(self, notes: list[str]) -> None:
        warning = self.warning
        if warning is not None and warning not in notes:
            notes.append(warning)

    async def run(
        self,
        notes: list[str] | None,
        fn: Callable[[JobLedger], T],
    ) -> T | None:
        """`fn(ledger)` in a worker thread; None (and a note) when it cannot run."""
        ledger = self.ledger
        if ledger is None:
            if notes is not None:
                self.add_warning(notes)
            return None
        try:
            return await anyio.to_thread.run_sync(fn, ledger)
        except LedgerError as exc:
            logger.warning("job ledger: %s", exc)
            if notes is not None:
                notes.append(f"Warning: the job ledger could not record this ({exc}).")
            return None

    async def run_or_raise(self, fn: Callable[[JobLedger], T]) -> T:
        """`fn(ledger)` in a worker thread, for a call that must succeed before anything
        else happens (the row of a paid request): raises `LedgerError` when it cannot."""
        ledger = self.ledger
        if ledger is None:
            raise LedgerError(f"{self.path}: {self.problem or 'unavailable'}")
        return await anyio.to_thread.run_sync(fn, ledger)

    async def update(self, prediction: Prediction, notes: list[str] | None = None) -> None:
        await self.run(notes, lambda ledger: ledger.update(prediction))

    async def set_local_path(
        self, prediction_id: str, local_path: str | os.PathLike[str], notes: list[str] | None = None
    ) -> None:
        """For the download step: note where a job's output was saved."""
        await self.run(notes, lambda ledger: ledger.set_local_path(prediction_id, local_path))

    async def get(self, prediction_id: str) -> JobRecord | None:
        return await self.run(None, lambda ledger: ledger.get(prediction_id))

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
