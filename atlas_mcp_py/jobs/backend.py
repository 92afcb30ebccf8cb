"""Which ledger: the SQLite file (the embedded default) or a PostgreSQL database.

`JobLedger` is the interface both implement (`ledger.Ledger`, `ledger_pg.PostgresLedger`);
`open_ledger` picks one from a location: a path, or a `postgresql://` URL
(`ATLAS_MCP_DATABASE_URL`). The PostgreSQL module, and psycopg with it, is imported only
for a URL.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.jobs.ledger import Claim, Ledger
from atlas_mcp_py.jobs.records import JobRecord, RecordState
from atlas_mcp_py.jobs.tasks import TaskRecord, TaskStore

__all__ = [
    "JobLedger",
    "TaskBackend",
    "is_postgres_url",
    "migrate_to_postgres",
    "open_ledger",
    "open_task_store",
    "shown_location",
]


class JobLedger(Protocol):
    """The ledger's public API, whichever database holds it. Every method is one short
    transaction and raises `LedgerError` on a database problem."""

    def close(self) -> None: ...

    def add(
        self,
        *,
        model: str,
        api_root: str,
        params: dict[str, Any],
        params_hash: str,
        prompt: object = "",
        estimated_cost_usd: float | None = None,
        status: str = "submitting",
        prediction_id: str | None = None,
        created_at: float | None = None,
        note: str | None = None,
        owner: str = "",
    ) -> JobRecord: ...

    def claim(
        self,
        *,
        model: str,
        api_root: str,
        params: dict[str, Any],
        params_hash: str,
        prompt: object = "",
        estimated_cost_usd: float | None = None,
        since: float | None,
        skip: Collection[int] = (),
        owner: str = "",
        daily_limit_usd: float | None = None,
    ) -> Claim: ...

    def attach(self, ref: int, prediction: Prediction, *, note: str | None = None) -> None: ...

    def mark_unknown(self, ref: int, note: str) -> None: ...

    def discard(self, ref: int) -> None: ...

    def update(self, prediction: Prediction) -> bool: ...

    def remember(
        self,
        prediction: Prediction,
        *,
        api_root: str,
        model: str | None = None,
        created_at: float | None = None,
        owner: str = "",
    ) -> JobRecord | None: ...

    def set_local_path(self, prediction_id: str, local_path: str | os.PathLike[str]) -> bool: ...

    def get(self, prediction_id: str) -> JobRecord | None: ...

    def get_ref(self, ref: int) -> JobRecord | None: ...

    def recent(
        self,
        limit: int = 20,
        *,
        state: RecordState | Sequence[RecordState] | None = None,
        owner: str | None = None,
    ) -> list[JobRecord]: ...

    def spent_since(self, owner: str, since: float) -> float: ...

    def count(self) -> int: ...

    def recent_twins(
        self, params_hash: str, api_root: str, since: float, owner: str = ""
    ) -> list[JobRecord]: ...

    def known_ids(self, prediction_ids: Sequence[str]) -> set[str]: ...


class TaskBackend(Protocol):
    """The task store's API (`tasks.TaskStore`, `tasks_pg.PostgresTaskStore`)."""

    def close(self) -> None: ...

    def create(self, task: TaskRecord) -> TaskRecord: ...

    def get(self, task_id: str, owner: str) -> TaskRecord | None: ...

    def list(self, owner: str, *, offset: int, limit: int) -> list[TaskRecord]: ...

    def claim_finish(self, task_id: str, *, stale_after: float) -> TaskRecord | None: ...

    def update(
        self,
        task_id: str,
        *,
        when: Collection[str] | None = None,
        where: str | None = None,
        where_params: tuple[Any, ...] = (),
        **changes: Any,
    ) -> TaskRecord | None: ...


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def shown_location(location: str | Path) -> str:
    """The location as messages show it (a URL without its password)."""
    if is_postgres_url(location):
        from atlas_mcp_py.jobs.ledger_pg import redact_url

        return redact_url(str(location))
    return str(location)


def open_ledger(location: str | Path) -> JobLedger:
    """Open the ledger at `location`: a `postgresql://` URL, or a SQLite file path."""
    if is_postgres_url(location):
        from atlas_mcp_py.jobs.ledger_pg import PostgresLedger

        return PostgresLedger.open(str(location))
    return Ledger.open(location)


def open_task_store(location: str | Path) -> TaskBackend:
    """Open the task store next to the ledger at `location`: its table in the same
    PostgreSQL database (every replica sees every task), or in the same SQLite file."""
    if is_postgres_url(location):
        from atlas_mcp_py.jobs.tasks_pg import PostgresTaskStore

        return PostgresTaskStore.open(str(location))
    return TaskStore.open(location)


def migrate_to_postgres(source: Path, url: str) -> tuple[int, int, int]:
    """`atlas-mcp ledger migrate`: copy the SQLite ledger at `source` into PostgreSQL at
    `url` (jobs/migrate.py); (copied, already there, total there now)."""
    from atlas_mcp_py.jobs.migrate import migrate_ledger

    done = migrate_ledger(source, url)
    return done.copied, done.skipped, done.total
