"""The durable job ledger file: SQLite, shared by every server process of this user.

One SQLite file (`<state dir>/jobs.sqlite3`, standard library `sqlite3`) in WAL mode with
a busy timeout, so several server processes (two IDE windows) share it safely: every
write is one short `BEGIN IMMEDIATE` transaction. The schema is versioned with
`PRAGMA user_version`; a file written by a newer schema is refused, never rewritten.

Two guarantees hold across processes. `claim` checks for an identical request and writes
the row of the one about to be sent in one transaction, so of two processes sending the
same request at once exactly one gets the row (and POSTs); the other finds it. A job in a
terminal state (`completed`, `failed`) never goes back to `processing`: a late answer of
a slower status check does not undo a later one.

Every string is written as valid UTF-8 (lone surrogates replaced); any failure to write,
an encoding one included, is a `LedgerError`.

`Ledger` is the synchronous API (tests and other processes can use it directly:
`Ledger.open(path).get(prediction_id)`); the server reaches it through `jobs.JobBook`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from atlas_mcp_py.images import stored_outputs
from atlas_mcp_py.job_records import OUTPUT_RETENTION_HOURS, JobRecord, JobState, prompt_excerpt
from atlas_mcp_py.models import Prediction, normalise_status
from atlas_mcp_py.sanitize import clean_json, clean_text

__all__ = ["LEDGER_FILENAME", "SCHEMA_VERSION", "TERMINAL_STATES", "Claim", "Ledger", "LedgerError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 2
LEDGER_FILENAME = "jobs.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0
ERROR_CHARS = 1000
TERMINAL_STATES = ("completed", "failed")
_DB_ERRORS = (sqlite3.Error, ValueError, OverflowError)
"""What a write can raise: database errors, and a value SQLite cannot take (a string
that is not encodable, an integer too large)."""

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

_MIGRATIONS: dict[int, str] = {0: _SCHEMA, 1: _ADD_REQUEST_ID_AND_EXPIRY}
"""Script that takes the schema from version N to N+1."""


class LedgerError(Exception):
    """The ledger file cannot be opened, read or written; the message says why."""


def _state_of(status: str) -> JobState:
    if status in ("submitting", "unknown"):
        return status  # type: ignore[return-value]
    return normalise_status(status)


def _dumps(value: Any) -> str:
    return json.dumps(clean_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


@dataclass(frozen=True)
class Claim:
    """What `Ledger.claim` found: the new row (send its request), or the identical
    earlier rows that may stand for it (send nothing yet)."""

    row: JobRecord | None
    earlier: list[JobRecord]


_COLUMNS = (
    "ref, prediction_id, api_root, model, status, state, params, params_hash, prompt, "
    "created_at, updated_at, completed_at, estimated_cost_usd, outputs, error, local_path, "
    "note, pid, request_id, expires_at"
)


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    for key, empty in (("params", {}), ("outputs", [])):
        try:
            data[key] = json.loads(data[key]) if data[key] else empty
        except ValueError:
            data[key] = empty
    return JobRecord.model_validate(data)


class Ledger:
    """The ledger file, synchronously. Thread-safe; every method is one short transaction.

    Every method raises `LedgerError` on a database problem (a locked, damaged or
    read-only file).
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._lock = threading.Lock()

    # -- opening -----------------------------------------------------------------------

    @staticmethod
    def default_path(state_dir: Path) -> Path:
        return state_dir / LEDGER_FILENAME

    @classmethod
    def open(cls, path: Path | str) -> Ledger:
        """Open (creating it and its directory if needed) the ledger at `path`.

        Checks that the file is a ledger this version understands and that it can be
        written; raises `LedgerError` otherwise.
        """
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("job ledger %s: WAL mode unavailable (journal mode %s)", path, mode)
            connection.execute("PRAGMA synchronous = FULL")  # a paid job survives power loss
            _migrate(connection)
        except sqlite3.Error as exc:
            if connection is not None:
                connection.close()
            raise LedgerError(f"{path}: {exc}") from None
        except LedgerError as exc:
            if connection is not None:
                connection.close()
            raise LedgerError(f"{path}: {exc}") from None
        return cls(connection, path)

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(db)` inside one `BEGIN IMMEDIATE` transaction (the write lock of every
        process sharing the file), committed when it returns, rolled back if it raises."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except _DB_ERRORS as exc:
                raise LedgerError(f"{self._path}: {exc}") from None

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._transaction(lambda db: db.execute(sql, params))

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        with self._lock:
            try:
                rows = self._db.execute(sql, params).fetchall()
            except _DB_ERRORS as exc:
                raise LedgerError(f"{self._path}: {exc}") from None
        return [_record(row) for row in rows]

    def _one(self, sql: str, params: Sequence[Any]) -> JobRecord | None:
        rows = self._read(sql, params)
        return rows[0] if rows else None

    # -- writing -----------------------------------------------------------------------

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
    ) -> JobRecord:
        """Write a new row (by default a request about to be sent) and return it."""
        values = _row_values(
            model=model,
            api_root=api_root,
            params=params,
            params_hash=params_hash,
            prompt=prompt,
            estimated_cost_usd=estimated_cost_usd,
            status=status,
            prediction_id=prediction_id,
            created_at=created_at,
            note=note,
        )
        return self._transaction(lambda db: _insert(db, values))

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
    ) -> Claim:
        """The duplicate check and the row of the request about to be sent, as one
        transaction across every process sharing the file.

        Rows of the identical request (same hash and API root) created since `since`,
        not failed and not in `skip` (rows the caller has already found not to count),
        are returned as `earlier` and nothing is written; otherwise a `submitting` row is
        written and returned as `row`. `since=None` skips the check (the guard is off, or
        the caller asked to pay again).
        """
        values = _row_values(
            model=model,
            api_root=api_root,
            params=params,
            params_hash=params_hash,
            prompt=prompt,
            estimated_cost_usd=estimated_cost_usd,
        )

        def claim(db: sqlite3.Connection) -> Claim:
            if since is not None:
                earlier = [
                    _record(row)
                    for row in db.execute(
                        f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = ? AND api_root = ? "
                        "AND created_at >= ? AND state != 'failed' "
                        "ORDER BY created_at DESC, ref DESC",
                        (params_hash, api_root, since),
                    ).fetchall()
                ]
                earlier = [row for row in earlier if row.ref not in skip]
                if earlier:
                    return Claim(None, earlier)
            return Claim(_insert(db, values), [])

        return self._transaction(claim)

    def attach(self, ref: int, prediction: Prediction, *, note: str | None = None) -> None:
        """Row `ref` became prediction `prediction.id` (the POST answered, or history found it).

        If another row already holds that id (another process recorded it first), the
        two are merged: row `ref` is removed and the other row updated.
        """

        def attach(db: sqlite3.Connection) -> None:
            row_ref = ref
            other = db.execute(
                "SELECT ref FROM jobs WHERE prediction_id = ? AND ref != ?",
                (prediction.id, row_ref),
            ).fetchone()
            if other is not None:
                db.execute("DELETE FROM jobs WHERE ref = ?", (row_ref,))
                row_ref = int(other["ref"])
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
                    row_ref,
                ),
            )
            _apply_status(db, "ref", row_ref, prediction)

        self._transaction(attach)

    def mark_unknown(self, ref: int, note: str) -> None:
        """The request of row `ref` may have created a job, but no id came back."""
        self._write(
            "UPDATE jobs SET status = 'unknown', state = 'unknown', note = ?, updated_at = ? "
            "WHERE ref = ? AND prediction_id IS NULL",
            (clean_text(note), time.time(), ref),
        )

    def discard(self, ref: int) -> None:
        """Forget row `ref`: its request was refused or never left this machine."""
        self._write("DELETE FROM jobs WHERE ref = ? AND prediction_id IS NULL", (ref,))

    def update(self, prediction: Prediction) -> bool:
        """Record an observed status of a known job; False when the id is not in the ledger.

        A job already `completed` or `failed` keeps that state (and its outputs or error):
        an older answer arriving late changes nothing.
        """
        return self._transaction(
            lambda db: _apply_status(db, "prediction_id", prediction.id, prediction)
        )

    def remember(
        self,
        prediction: Prediction,
        *,
        api_root: str,
        model: str | None = None,
        created_at: float | None = None,
    ) -> JobRecord | None:
        """Update the row of `prediction`, or add one for a job this ledger never saw
        (a job submitted elsewhere and checked here)."""
        if self.update(prediction):
            return self.get(prediction.id)
        try:
            self.add(
                model=prediction.model or model or "unknown",
                api_root=api_root,
                params={},
                params_hash="",
                status=prediction.status,
                prediction_id=prediction.id,
                created_at=created_at,
                note="first seen by atlas_check_status",
            )
        except LedgerError:
            if self.get(prediction.id) is None:  # not a race with another writer: real
                raise
        self.update(prediction)
        return self.get(prediction.id)

    def set_local_path(self, prediction_id: str, local_path: str | os.PathLike[str]) -> bool:
        """Note where the job's output was saved; False when the id is not in the ledger."""
        cursor = self._write(
            "UPDATE jobs SET local_path = ?, updated_at = ? WHERE prediction_id = ?",
            (clean_text(os.fspath(local_path)), time.time(), prediction_id),
        )
        return cursor.rowcount > 0

    # -- reading -----------------------------------------------------------------------

    def get(self, prediction_id: str) -> JobRecord | None:
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE prediction_id = ?", (prediction_id,))

    def get_ref(self, ref: int) -> JobRecord | None:
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE ref = ?", (ref,))

    def recent(
        self, limit: int = 20, *, state: JobState | Sequence[JobState] | None = None
    ) -> list[JobRecord]:
        """The newest rows first, optionally only those in `state` (one or several)."""
        states = [state] if isinstance(state, str) else list(state or [])
        where = f"WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, ref DESC LIMIT ?",
            (*states, max(0, limit)),
        )

    def count(self) -> int:
        with self._lock:
            try:
                return int(self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])
            except sqlite3.Error as exc:
                raise LedgerError(f"{self._path}: {exc}") from None

    def same_request(self, params_hash: str, api_root: str, since: float) -> list[JobRecord]:
        """Rows of the identical request (same hash, same API root) created since `since`,
        newest first."""
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = ? AND api_root = ? "
            "AND created_at >= ? ORDER BY created_at DESC, ref DESC",
            (params_hash, api_root, since),
        )

    def known_ids(self, prediction_ids: Sequence[str]) -> set[str]:
        """Which of these prediction ids the ledger already holds."""
        if not prediction_ids:
            return set()
        marks = ", ".join("?" * len(prediction_ids))
        rows = self._read(
            f"SELECT {_COLUMNS} FROM jobs WHERE prediction_id IN ({marks})", tuple(prediction_ids)
        )
        return {row.prediction_id for row in rows if row.prediction_id}


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
    )


def _insert(db: sqlite3.Connection, values: tuple[Any, ...]) -> JobRecord:
    cursor = db.execute(
        "INSERT INTO jobs (prediction_id, api_root, model, status, state, params, "
        "params_hash, prompt, created_at, updated_at, estimated_cost_usd, note, pid, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    error = clean_text(prediction.error[:ERROR_CHARS]) if prediction.error else None
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
