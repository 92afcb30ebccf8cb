"""The PostgreSQL ledger's SQL: its schema and migrations, and the statements that run
inside a `PostgresLedger` transaction (the row lock, the advisory lock, the status rule)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from atlas_mcp_py.atlas import Prediction, clean_text, stored_outputs
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.records import (
    _COLUMNS,
    ROW_ERROR_CHARS,
    TERMINAL_STATES,
    JobRecord,
    _dumps,
    _record,
)

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS atlas_mcp_schema (version INTEGER NOT NULL);
CREATE TABLE jobs (
    ref BIGSERIAL PRIMARY KEY,
    prediction_id TEXT UNIQUE,
    api_root TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    completed_at DOUBLE PRECISION,
    estimated_cost_usd DOUBLE PRECISION,
    outputs TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    local_path TEXT,
    note TEXT,
    pid INTEGER,
    request_id TEXT,
    expires_at DOUBLE PRECISION,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_hash ON jobs (params_hash, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_owner ON jobs (owner, created_at)
"""
"""The PostgreSQL ledger starts at the SQLite ledger's version 3 (the same columns)."""

_TASKS = """
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
    estimated_cost_usd DOUBLE PRECISION,
    notes TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, created_at)
"""
"""Version 4 (PostgreSQL only): the MCP tasks table (jobs/tasks.py's, in the shared
database, so every replica answers for every task)."""

PG_SCHEMA_VERSION = 4
"""The PostgreSQL schema's version: the SQLite ledger's 3, then the tasks table."""

_MIGRATIONS: dict[int, str] = {0: _SCHEMA, 3: _TASKS}
"""Script that takes the schema from version N to the next key (or `PG_SCHEMA_VERSION`)."""
_FIRST_VERSION = {0: 3}
"""Where a script leaves the schema when it is not simply N+1."""

MIGRATION_LOCK = "atlas-mcp:schema"


INSERT = (
    "INSERT INTO jobs (prediction_id, api_root, model, status, state, params, params_hash, "
    "prompt, created_at, updated_at, estimated_cost_usd, note, pid, expires_at, owner) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def insert_row(db: psycopg.Connection[Any], values: tuple[Any, ...]) -> JobRecord:
    row = db.execute(f"{INSERT} RETURNING {_COLUMNS}", values).fetchone()
    if row is None:  # pragma: no cover - RETURNING always answers
        raise LedgerError("the new row could not be read back")
    return _record(row)


def advisory_lock(db: psycopg.Connection[Any], key: str) -> None:
    """Hold a lock named `key` until this transaction ends (every replica sees it)."""
    db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


def spent(db: psycopg.Connection[Any], owner: str, since: float) -> float:
    row = db.execute(
        "SELECT COALESCE(SUM(estimated_cost_usd), 0) AS spent FROM jobs "
        "WHERE owner = %s AND created_at >= %s AND state != 'failed'",
        (owner, since),
    ).fetchone()
    return float(row["spent"]) if row is not None else 0.0


def apply_status(
    db: psycopg.Connection[Any], key: str, value: object, prediction: Prediction
) -> bool:
    """Write an observed status to the row whose `key` is `value`, its row locked; False
    when there is no such row. A terminal state is never left."""
    current = db.execute(f"SELECT state FROM jobs WHERE {key} = %s FOR UPDATE", (value,)).fetchone()
    if current is None:
        return False
    state = prediction.state
    if current["state"] in TERMINAL_STATES and state != current["state"]:
        logger.debug("job ledger: %s stays %s", prediction.id, current["state"])
        return True
    now = time.time()
    outputs = _dumps(stored_outputs(prediction.outputs)) if prediction.outputs else None
    error = clean_text(prediction.error[:ROW_ERROR_CHARS]) if prediction.error else None
    db.execute(
        "UPDATE jobs SET status = %s, state = %s, updated_at = %s, "
        "outputs = COALESCE(%s, outputs), error = COALESCE(%s, error), "
        "completed_at = CASE WHEN %s != 'processing' THEN COALESCE(completed_at, %s) "
        "ELSE completed_at END "
        f"WHERE {key} = %s",
        (clean_text(prediction.status), state, now, outputs, error, state, now, value),
    )
    return True


def migrate(db: psycopg.Connection[Any]) -> None:
    """Bring the schema to `PG_SCHEMA_VERSION`, one replica at a time (an advisory lock)."""
    advisory_lock(db, MIGRATION_LOCK)
    db.execute("CREATE TABLE IF NOT EXISTS atlas_mcp_schema (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) AS version FROM atlas_mcp_schema").fetchone()
    version = int(row["version"]) if row and row["version"] is not None else 0
    if version > PG_SCHEMA_VERSION:
        known = PG_SCHEMA_VERSION
        raise LedgerError(
            f"written by a newer atlas-mcp-py (schema {version}; this one knows {known})"
        )
    if version == PG_SCHEMA_VERSION:
        return
    while version < PG_SCHEMA_VERSION:
        for statement in _MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
        version = _FIRST_VERSION.get(version, version + 1)
    db.execute("DELETE FROM atlas_mcp_schema")
    db.execute("INSERT INTO atlas_mcp_schema (version) VALUES (%s)", (version,))
