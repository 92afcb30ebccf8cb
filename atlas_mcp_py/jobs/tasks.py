"""Durable tasks: a table in the job ledger's file that ties a task id to a ledger job.

An MCP task (the Tasks extension, server/tasks.py) is a paid job seen through the
protocol: its id is handed to the client, which may ask about it from a new server
process (stdio restart) or another server instance (HTTP) on the same ledger. So the
task lives here, next to the jobs: its owner (the identity that created it: others
are told "unknown task"), the tool call's arguments (to continue after a cost
confirmation, and to save the output where asked), the job's prediction id once sent,
the status the client sees and, once finished, the exact tool result.

The table is additive (`CREATE TABLE IF NOT EXISTS`, no change to the jobs table) and
has its own connection to the file: WAL mode lets it share the file with the ledger.
Every state change is a compare-and-set on the status, so two processes following one
task cannot both finish it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_mcp_py.errors import LedgerError

__all__ = [
    "FINISHING",
    "TaskRecord",
    "TaskStore",
    "new_task_id",
]

BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    prediction_id TEXT,
    status TEXT NOT NULL,
    status_message TEXT,
    atlas_state TEXT,
    input_requests TEXT,
    result TEXT,
    error TEXT,
    model TEXT,
    kind TEXT,
    estimated_cost_usd REAL,
    notes TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL
)
"""
FINISHING = "finishing"
"""`atlas_state` of a task whose ended job one process is finishing (the claim)."""
_JSON_FIELDS = ("arguments", "input_requests", "result", "error", "notes")


def new_task_id() -> str:
    """An unguessable task id (the spec: task ids may act as bearer tokens)."""
    return f"task-{secrets.token_urlsafe(18)}"


@dataclass
class TaskRecord:
    """One task row."""

    task_id: str
    owner: str
    tool: str
    arguments: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    prediction_id: str | None = None
    status_message: str | None = None
    atlas_state: str | None = None
    """The job's last status seen at Atlas (`processing`, ...)."""
    input_requests: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    model: str | None = None
    kind: str | None = None
    estimated_cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)
    expires_at: float | None = None
    """When the output's URL expires at Atlas (the task's time to live ends there)."""


def _row(row: sqlite3.Row) -> TaskRecord:
    data = dict(row)
    for key in _JSON_FIELDS:
        if data[key] is not None:
            data[key] = json.loads(data[key])
    data["notes"] = data["notes"] or []
    return TaskRecord(**data)


class TaskStore:
    """The tasks table, synchronously (callers run it in a worker thread); thread-safe.
    Raises `LedgerError` on a database problem."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str) -> TaskStore:
        """Open the ledger file at `path` (created if missing) and its tasks table."""
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"{path}: {exc}") from None
        return cls(db, path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db.execute(sql, params)
            except (sqlite3.Error, ValueError, OverflowError) as exc:
                raise LedgerError(f"{self._path}: {exc}") from None

    def create(self, task: TaskRecord) -> TaskRecord:
        """Write a new task (durable when this returns: then its id may be handed out)."""
        data = task.__dict__.copy()
        for key in _JSON_FIELDS:
            data[key] = None if data[key] is None else json.dumps(data[key])
        columns = ", ".join(data)
        marks = ", ".join("?" for _ in data)
        self._execute(f"INSERT INTO tasks ({columns}) VALUES ({marks})", tuple(data.values()))
        return task

    def get(self, task_id: str, owner: str) -> TaskRecord | None:
        """The task, if it exists and belongs to `owner` (otherwise None: unknown)."""
        rows = self._execute(
            "SELECT * FROM tasks WHERE task_id = ? AND owner = ?", (task_id, owner)
        ).fetchall()
        return _row(rows[0]) if rows else None

    def list(self, owner: str, *, offset: int, limit: int) -> list[TaskRecord]:
        """`owner`'s tasks, newest first, `limit` of them from `offset` on."""
        rows = self._execute(
            "SELECT * FROM tasks WHERE owner = ? ORDER BY created_at DESC, task_id"
            " LIMIT ? OFFSET ?",
            (owner, limit, offset),
        ).fetchall()
        return [_row(row) for row in rows]

    def claim_finish(self, task_id: str, *, stale_after: float) -> TaskRecord | None:
        """Take the finishing of a working task whose job ended (saving its output,
        writing its result): the task, or None when it is not working or another process
        holds the claim, unless that claim is `stale_after` seconds old (its process died)."""
        return self.update(
            task_id,
            when={"working"},
            where="(atlas_state IS NOT ? OR updated_at < ?)",
            where_params=(FINISHING, time.time() - stale_after),
            atlas_state=FINISHING,
        )

    def update(
        self,
        task_id: str,
        *,
        when: Collection[str] | None = None,
        where: str | None = None,
        where_params: tuple[Any, ...] = (),
        **changes: Any,
    ) -> TaskRecord | None:
        """Change the task's fields, only while its status is one of `when` and the SQL
        condition `where` holds (if given): the updated task, or None when they did not
        (another process got there first)."""
        changes["updated_at"] = changes.get("updated_at", time.time())
        values = [
            json.dumps(v) if k in _JSON_FIELDS and v is not None else v for k, v in changes.items()
        ]
        sets = ", ".join(f"{key} = ?" for key in changes)
        sql = f"UPDATE tasks SET {sets} WHERE task_id = ?"
        params: list[Any] = [*values, task_id]
        if when is not None:
            sql += f" AND status IN ({', '.join('?' for _ in when)})"
            params.extend(when)
        if where is not None:
            sql += f" AND {where}"
            params.extend(where_params)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    changed = self._db.execute(sql, params).rowcount
                    rows = self._db.execute(
                        "SELECT * FROM tasks WHERE task_id = ?", (task_id,)
                    ).fetchall()
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except (sqlite3.Error, ValueError, OverflowError) as exc:
                raise LedgerError(f"{self._path}: {exc}") from None
        return _row(rows[0]) if changed and rows else None
