"""One ledger row: JobRecord, its states, the SQLite table and its migrations."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from typing import Any, Literal

from pydantic import BaseModel

from atlas_mcp_py.atlas import (
    Prediction,
    clean_json,
    clean_text,
    is_inline_marker,
    normalise_status,
    stored_outputs,
)
from atlas_mcp_py.errors import LedgerError

__all__ = [
    "OUTPUT_RETENTION_HOURS",
    "SCHEMA_VERSION",
    "STALE_SUBMITTING_SECONDS",
    "TERMINAL_STATES",
    "JobRecord",
    "RecordState",
    "prompt_excerpt",
    "seen_completed",
]

logger = logging.getLogger(__name__)

PROMPT_EXCERPT_CHARS = 200


STALE_SUBMITTING_SECONDS = 300.0
"""A row still `submitting` after this long belongs to a process that died mid-POST."""


OUTPUT_RETENTION_HOURS = 336
"""Atlas keeps a job's outputs 14 days (then their URLs answer 404), unless the generate
request asked for less (`X-AtlasCloud-Object-Expiration-Hours`)."""

RecordState = Literal["submitting", "unknown", "processing", "completed", "failed"]
"""`submitting`: written before the POST; `unknown`: the POST may have created a job but
no id came back; the rest are Atlas's statuses, normalised."""


class JobRecord(BaseModel):
    """One row of the ledger."""

    ref: int
    """The row number: the only handle of a job whose prediction id never came back."""
    prediction_id: str | None
    api_root: str
    model: str
    status: str
    """The status exactly as last seen (or `submitting` / `unknown`)."""
    state: RecordState
    params: dict[str, Any]
    """The request body as sent (without `model`)."""
    params_hash: str
    prompt: str
    """The first characters of the prompt."""
    created_at: float
    """Unix seconds."""
    updated_at: float
    completed_at: float | None = None
    estimated_cost_usd: float | None = None
    outputs: list[str] = []
    error: str | None = None
    local_path: str | None = None
    note: str | None = None
    pid: int | None = None
    request_id: str | None = None
    """`X-Request-ID` of the generate answer: Atlas support asks for it."""
    expires_at: float | None = None
    """Unix seconds after which Atlas no longer serves the job's outputs."""
    owner: str = ""
    """The user whose call sent (or first checked) the job: a name from the HTTP tokens
    file, or "" (one trusted user: stdio, a single `ATLAS_MCP_HTTP_TOKEN`)."""

    @property
    def video_url(self) -> str | None:
        return self.outputs[0] if self.state == "completed" and self.outputs else None

    def as_prediction(self) -> Prediction:
        """The row as a Prediction (what the server knew last), for a job with an id."""
        return Prediction(
            id=self.prediction_id or "",
            model=self.model,
            status=self.status,
            outputs=self.outputs,
            error=self.error,
        )


def seen_completed(record: JobRecord | None, prediction: Prediction) -> Prediction | None:
    """The job as the ledger saw it completed, when Atlas now says it runs again (a
    replica behind, a status that flips): a completed job stays completed. None when
    `prediction` needs no correction or the ledger kept no outputs to show (inline ones)."""
    if record is None or record.state != "completed" or prediction.state != "processing":
        return None
    if not record.outputs or any(map(is_inline_marker, record.outputs)):
        return None
    return record.as_prediction().model_copy(
        update={"model": prediction.model or record.model, "created_at": prediction.created_at}
    )


def prompt_excerpt(prompt: object) -> str:
    text = " ".join(prompt.split()) if isinstance(prompt, str) else ""
    return text if len(text) <= PROMPT_EXCERPT_CHARS else text[: PROMPT_EXCERPT_CHARS - 1] + "…"


SCHEMA_VERSION = 3


ROW_ERROR_CHARS = 1000


TERMINAL_STATES = ("completed", "failed")

_SCHEMA = """
CREATE TABLE jobs (
    ref INTEGER PRIMARY KEY AUTOINCREMENT,
    prediction_id TEXT UNIQUE,
    api_root TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    completed_at REAL,
    estimated_cost_usd REAL,
    outputs TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    local_path TEXT,
    note TEXT,
    pid INTEGER
);
CREATE INDEX jobs_by_hash ON jobs (params_hash, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
"""

_ADD_REQUEST_ID_AND_EXPIRY = f"""
ALTER TABLE jobs ADD COLUMN request_id TEXT;
ALTER TABLE jobs ADD COLUMN expires_at REAL;
UPDATE jobs SET expires_at = created_at + {OUTPUT_RETENTION_HOURS * 3600}
"""
"""Version 2: the `X-Request-ID` of the generate answer (Atlas support asks for it), and
when the job's outputs expire (rows of before: Atlas's default, 14 days)."""

_ADD_OWNER = """
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, created_at)
"""
"""Version 3: the user each job belongs to (rows of before: "", the one trusted user)."""

_MIGRATIONS: dict[int, str] = {0: _SCHEMA, 1: _ADD_REQUEST_ID_AND_EXPIRY, 2: _ADD_OWNER}
"""Script that takes the schema from version N to N+1."""


def utc_day_start(now: float) -> float:
    """Unix seconds of the last midnight UTC before `now`: where a spend day starts."""
    return now - now % 86400


def _state_of(status: str) -> RecordState:
    if status in ("submitting", "unknown"):
        return status  # type: ignore[return-value]
    return normalise_status(status)


def _dumps(value: Any) -> str:
    return json.dumps(clean_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


_COLUMNS = (
    "ref, prediction_id, api_root, model, status, state, params, params_hash, prompt, "
    "created_at, updated_at, completed_at, estimated_cost_usd, outputs, error, local_path, "
    "note, pid, request_id, expires_at, owner"
)


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    for key, empty in (("params", {}), ("outputs", [])):
        try:
            data[key] = json.loads(data[key]) if data[key] else empty
        except ValueError:
            data[key] = empty
    return JobRecord.model_validate(data)


def _row_values(
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
) -> tuple[Any, ...]:
    now = time.time()
    created = created_at if created_at is not None else now
    return (
        _text(prediction_id),
        clean_text(api_root),
        clean_text(model),
        clean_text(status),
        _state_of(status),
        _dumps(params),
        params_hash,
        clean_text(prompt_excerpt(prompt)),
        created,
        now,
        estimated_cost_usd,
        _text(note),
        os.getpid(),
        created + OUTPUT_RETENTION_HOURS * 3600,
        clean_text(owner),
    )


def _insert(db: sqlite3.Connection, values: tuple[Any, ...]) -> JobRecord:
    cursor = db.execute(
        "INSERT INTO jobs (prediction_id, api_root, model, status, state, params, "
        "params_hash, prompt, created_at, updated_at, estimated_cost_usd, note, pid, "
        "expires_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE ref = ?", (cursor.lastrowid,)).fetchone()
    if row is None:  # pragma: no cover - sqlite always reports the row id
        raise LedgerError("the new row could not be read back")
    return _record(row)


def _apply_status(db: sqlite3.Connection, key: str, value: object, prediction: Prediction) -> bool:
    """Write an observed status to the row whose `key` is `value` (in the caller's
    transaction); False when there is no such row. A terminal state is never left."""
    current = db.execute(f"SELECT state FROM jobs WHERE {key} = ?", (value,)).fetchone()
    if current is None:
        return False
    state = prediction.state
    if current["state"] in TERMINAL_STATES and state != current["state"]:
        logger.debug(
            "job ledger: %s stays %s (a late answer said %s)",
            prediction.id,
            current["state"],
            prediction.status,
        )
        return True
    now = time.time()
    # inline (data:) outputs are megabytes of base64: the ledger keeps their type and size
    outputs = _dumps(stored_outputs(prediction.outputs)) if prediction.outputs else None
    error = clean_text(prediction.error[:ROW_ERROR_CHARS]) if prediction.error else None
    db.execute(
        "UPDATE jobs SET status = ?, state = ?, updated_at = ?, "
        "outputs = COALESCE(?, outputs), error = COALESCE(?, error), "
        "completed_at = CASE WHEN ? != 'processing' THEN COALESCE(completed_at, ?) "
        "ELSE completed_at END "
        f"WHERE {key} = ?",
        (clean_text(prediction.status), state, now, outputs, error, state, now, value),
    )
    return True


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema to `SCHEMA_VERSION` (one transaction; proves the file is writable)."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version == SCHEMA_VERSION:
        connection.execute("SELECT count(*) FROM jobs").fetchone()
        return
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"written by a newer atlas-mcp-py (schema {version}; this one knows {SCHEMA_VERSION})"
        )
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        while version < SCHEMA_VERSION:  # another process may have migrated meanwhile
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    connection.execute(statement)
            version += 1
            connection.execute(f"PRAGMA user_version = {version}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _attach(db: sqlite3.Connection, ref: int, prediction: Prediction, note: str | None) -> None:
    """Row `ref` gets the id of `prediction` (merged into another row holding it)."""
    other = db.execute(
        "SELECT ref FROM jobs WHERE prediction_id = ? AND ref != ?", (prediction.id, ref)
    ).fetchone()
    if other is not None:
        db.execute("DELETE FROM jobs WHERE ref = ?", (ref,))
        ref = int(other["ref"])
    hours = prediction.expire_hours
    db.execute(
        "UPDATE jobs SET prediction_id = ?, note = COALESCE(?, note), "
        "request_id = COALESCE(?, request_id), "
        "expires_at = COALESCE(created_at + ?, expires_at) WHERE ref = ?",
        (
            clean_text(prediction.id),
            _text(note),
            _text(prediction.request_id),
            hours * 3600 if hours is not None else None,
            ref,
        ),
    )
    _apply_status(db, "ref", ref, prediction)
