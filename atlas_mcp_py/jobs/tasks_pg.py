"""Durable tasks in PostgreSQL: `TaskStore`'s API and guarantees, in the shared database.

With the job ledger in PostgreSQL (replicas), a task must be found by every replica:
its table is in the same database (schema version 4, ledger_pg_sql.py), not in a file
of one replica. Every state change is one `UPDATE ... WHERE status IN (...) RETURNING`:
PostgreSQL locks the row and re-checks the condition after a concurrent write, so of two
replicas following one task only one finishes it (the same compare-and-set as SQLite's).

Callers' `where` conditions are written for SQLite (`?`, `IS ?`, `IS NOT ?`); they are
translated here, so server/task_runtime.py stays one code path for both stores.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.ledger_pg import _is_db_error, _message, redact_url
from atlas_mcp_py.jobs.ledger_pg_sql import migrate
from atlas_mcp_py.jobs.tasks import _JSON_FIELDS, FINISHING, TaskRecord

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresTaskStore", "pg_condition"]

T = TypeVar("T")

POOL_MAX_SIZE = 2
"""Connections per replica for tasks (each call is one short statement)."""
POOL_TIMEOUT_SECONDS = 10.0


def pg_condition(where: str) -> str:
    """A SQLite condition as PostgreSQL reads it: `IS [NOT] ?` compares NULL-safely
    (`IS [NOT] DISTINCT FROM`), and `?` is psycopg's `%s`."""
    where = re.sub(r"\bIS NOT \?", "IS DISTINCT FROM %s", where)
    where = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM %s", where)
    return where.replace("?", "%s")


def _row(row: dict[str, Any]) -> TaskRecord:
    data = dict(row)
    for key in _JSON_FIELDS:
        if data[key] is not None:
            data[key] = json.loads(data[key])
    data["notes"] = data["notes"] or []
    return TaskRecord(**data)


class PostgresTaskStore:
    """The tasks table in PostgreSQL, synchronously (callers run it in a worker thread);
    thread-safe (a connection pool). Raises `LedgerError` on a database problem."""

    def __init__(self, pool: ConnectionPool[Any], url: str) -> None:
        self._pool = pool
        self._shown = redact_url(url)

    @classmethod
    def open(
        cls, url: str, *, max_size: int = POOL_MAX_SIZE, timeout: float = POOL_TIMEOUT_SECONDS
    ) -> PostgresTaskStore:
        """Connect to `url` and bring the schema (with the tasks table) to this version."""
        try:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise LedgerError(
                "ATLAS_MCP_DATABASE_URL names PostgreSQL, but psycopg is not installed: "
                "install atlas-mcp-py[postgres]"
            ) from None
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=timeout,
            open=False,
            name="atlas-mcp-tasks",
        )
        store = cls(pool, url)
        try:
            pool.open(wait=True, timeout=timeout)
            store._transaction(migrate)
        except Exception as exc:
            pool.close()
            if isinstance(exc, LedgerError) or not _is_db_error(exc):
                raise
            raise LedgerError(f"{store._shown}: {_message(exc)}") from None
        return store

    def close(self) -> None:
        self._pool.close()

    def _transaction(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        try:
            with self._pool.connection() as db, db.transaction():
                return fn(db)
        except LedgerError as exc:
            raise LedgerError(f"{self._shown}: {exc}") from None
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise LedgerError(f"{self._shown}: {_message(exc)}") from None

    def _rows(self, sql: str, params: Collection[Any]) -> list[TaskRecord]:
        rows = self._transaction(lambda db: db.execute(sql, tuple(params)).fetchall())
        return [_row(row) for row in rows]

    def create(self, task: TaskRecord) -> TaskRecord:
        """Write a new task (durable when this returns: then its id may be handed out)."""
        data = task.__dict__.copy()
        for key in _JSON_FIELDS:
            data[key] = None if data[key] is None else json.dumps(data[key])
        columns = ", ".join(data)
        marks = ", ".join("%s" for _ in data)
        sql = f"INSERT INTO tasks ({columns}) VALUES ({marks})"
        self._transaction(lambda db: db.execute(sql, tuple(data.values())))
        return task

    def get(self, task_id: str, owner: str) -> TaskRecord | None:
        """The task, if it exists and belongs to `owner` (otherwise None: unknown)."""
        rows = self._rows("SELECT * FROM tasks WHERE task_id = %s AND owner = %s", (task_id, owner))
        return rows[0] if rows else None

    def list(self, owner: str, *, offset: int, limit: int) -> list[TaskRecord]:
        """`owner`'s tasks, newest first, `limit` of them from `offset` on."""
        return self._rows(
            "SELECT * FROM tasks WHERE owner = %s ORDER BY created_at DESC, task_id"
            " LIMIT %s OFFSET %s",
            (owner, limit, offset),
        )

    def claim_finish(self, task_id: str, *, stale_after: float) -> TaskRecord | None:
        """Take the finishing of a working task whose job ended (`TaskStore.claim_finish`):
        None when it is not working or another replica holds a claim younger than
        `stale_after` seconds."""
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
        """Change the task's fields, only while its status is one of `when` and the
        condition `where` (SQLite's syntax, see `pg_condition`) holds: the updated task,
        or None when they did not (another replica got there first)."""
        changes["updated_at"] = changes.get("updated_at", time.time())
        values = [
            json.dumps(v) if k in _JSON_FIELDS and v is not None else v for k, v in changes.items()
        ]
        sets = ", ".join(f"{key} = %s" for key in changes)
        sql = f"UPDATE tasks SET {sets} WHERE task_id = %s"
        params: list[Any] = [*values, task_id]
        if when is not None:
            sql += " AND status = ANY(%s)"
            params.append(list(when))
        if where is not None:
            sql += f" AND {pg_condition(where)}"
            params.extend(where_params)
        rows = self._rows(f"{sql} RETURNING *", params)
        return rows[0] if rows else None
