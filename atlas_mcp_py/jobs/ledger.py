"""The durable job ledger (SQLite): claim, attach, update, find paid jobs."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from atlas_mcp_py.atlas import Prediction, clean_text
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs import journal
from atlas_mcp_py.jobs.records import (
    _COLUMNS,
    JobRecord,
    RecordState,
    _apply_status,
    _attach,
    _insert,
    _migrate,
    _record,
    _row_values,
    utc_day_start,
)

__all__ = [
    "LEDGER_FILENAME",
    "Claim",
    "Ledger",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


LEDGER_FILENAME = "jobs.sqlite3"


BUSY_TIMEOUT_SECONDS = 10.0


_DB_ERRORS = (sqlite3.Error, ValueError, OverflowError)
"""What a write can raise: database errors, and a value SQLite cannot take (a string
that is not encodable, an integer too large)."""


@dataclass(frozen=True)
class Claim:
    """What `Ledger.claim` found: the new row (send its request), or the identical
    earlier rows that may stand for it (send nothing yet)."""

    row: JobRecord | None
    earlier: list[JobRecord]
    spent_today: float | None = None
    """Set (and nothing written) when the request would take its user past the daily
    spend limit: what that user's jobs of today (UTC) are estimated to cost so far."""


class Ledger:
    """The ledger file, synchronously. Thread-safe; every method is one short transaction.

    Every method raises `LedgerError` on a database problem (a locked, damaged or
    read-only file).
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._lock = threading.Lock()
        self._identity = journal.identity(path)
        """(device, inode) of the file opened: checked before every write."""
        self._journal = journal.journal_path(path)

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
        ledger = cls(connection, path)
        try:
            ledger._transaction(lambda db: None, journal.replayable(path))
        except LedgerError as exc:  # kept for the next open; the ledger itself works
            logger.warning("job ledger: pending ids not written yet: %s", exc)
        return ledger

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

    def _transaction(
        self, fn: Callable[[sqlite3.Connection], T], replay: Sequence[Path] | None = None
    ) -> T:
        """`fn(db)` inside one `BEGIN IMMEDIATE` transaction (the write lock of every
        process sharing the file), committed when it returns, rolled back if it raises.
        The ids kept in pending files (`replay`; default: this process's, if any) are
        written first, then the files removed."""
        with self._lock:
            self._check_file()
            pending = replay if replay is not None else [self._journal]
            pending = [path for path in pending if path.exists()]
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for path in pending:  # ids kept aside go in first: later writes need them
                        journal.replay(self._db, path)
                    result = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except _DB_ERRORS as exc:
                raise LedgerError(f"{self._path}: {exc}") from None
            journal.remove(pending)
            return result

    def _check_file(self) -> None:
        """Refuse to write into a ledger file that was deleted or replaced under the
        open connection: SQLite would go on writing into the unlinked file, and every
        paid job recorded from then on would be lost at the next start."""
        try:
            now = journal.identity(self._path)
        except OSError:
            now = None
        if now != self._identity:
            raise LedgerError(
                f"{self._path} was deleted or replaced while this server was running, so "
                "nothing more can be recorded and paid requests are refused until it is back. "
                "Fix: put the file back, or restart the server (it then opens the file at "
                "that path, or starts a new ledger there)"
            )

    def _keep_pending(self, ref: int, prediction: Prediction, note: str | None) -> None:
        """Append the id of row `ref` to this process's pending file (with the row as it
        was, to write it anew if the ledger file is gone)."""
        with self._lock:
            try:
                found = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE ref = ?", (ref,))
                row = found.fetchone()
            except _DB_ERRORS:
                row = None
            try:
                journal.keep(self._journal, ref, prediction, note, _record(row) if row else None)
            except OSError as exc:
                raise LedgerError(
                    f"{self._journal}: {exc.strerror or exc}; the id {prediction.id} is "
                    "recorded nowhere but in this result"
                ) from None

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
        owner: str = "",
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
            owner=owner,
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
        owner: str = "",
        daily_limit_usd: float | None = None,
    ) -> Claim:
        """The duplicate check and the row of the request about to be sent, as one
        transaction across every process sharing the file.

        Rows of the identical request (same hash and API root) created since `since`,
        not failed and not in `skip` (rows the caller has already found not to count),
        are returned as `earlier` and nothing is written; otherwise a `submitting` row is
        written and returned as `row`. `since=None` skips the check (the guard is off, or
        the caller asked to pay again). Only rows of `owner` count: the guard is per user.

        With `daily_limit_usd`, a request that would take the owner's estimated spend of
        today (UTC, failed jobs not counted) past it is refused: nothing is written and
        `spent_today` says what was spent.
        """
        values = _row_values(
            model=model,
            api_root=api_root,
            params=params,
            params_hash=params_hash,
            prompt=prompt,
            estimated_cost_usd=estimated_cost_usd,
            owner=owner,
        )

        def claim(db: sqlite3.Connection) -> Claim:
            if since is not None:
                earlier = [
                    _record(row)
                    for row in db.execute(
                        f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = ? AND api_root = ? "
                        "AND created_at >= ? AND state != 'failed' AND owner = ? "
                        "ORDER BY created_at DESC, ref DESC",
                        (params_hash, api_root, since, owner),
                    ).fetchall()
                ]
                earlier = [row for row in earlier if row.ref not in skip]
                if earlier:
                    return Claim(None, earlier)
            if daily_limit_usd is not None:
                spent = _spent(db, owner, utc_day_start(time.time()))
                if spent + (estimated_cost_usd or 0.0) > daily_limit_usd:
                    return Claim(None, [], spent)
            return Claim(_insert(db, values), [])

        return self._transaction(claim)

    def attach(self, ref: int, prediction: Prediction, *, note: str | None = None) -> None:
        """Row `ref` became prediction `prediction.id` (the POST answered, or history found it).

        If another row already holds that id (another process recorded it first), the
        two are merged: row `ref` is removed and the other row updated.

        A write that fails (the database stays locked, the file is gone) does not lose the
        id: it is kept in a pending file next to the ledger (`journal`) and written in
        before the next write, or at the next open; the `LedgerError` raised says so.
        """
        try:
            self._transaction(lambda db: _attach(db, ref, prediction, note))
        except LedgerError as exc:
            self._keep_pending(ref, prediction, note)
            raise LedgerError(
                f"{exc}; the job id {prediction.id} is kept in {self._journal.name} next to "
                "the ledger and written into it as soon as it can be"
            ) from None

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
        owner: str = "",
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
                owner=owner,
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
        self,
        limit: int = 20,
        *,
        state: RecordState | Sequence[RecordState] | None = None,
        owner: str | None = None,
    ) -> list[JobRecord]:
        """The newest rows first, optionally only those in `state` (one or several) and
        only those of `owner`."""
        states = [state] if isinstance(state, str) else list(state or [])
        clauses = [f"state IN ({', '.join('?' * len(states))})"] if states else []
        if owner is not None:
            clauses.append("owner = ?")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        owners = [] if owner is None else [owner]
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, ref DESC LIMIT ?",
            (*states, *owners, max(0, limit)),
        )

    def spent_since(self, owner: str, since: float) -> float:
        """The estimated cost of `owner`'s jobs created since `since` (failed ones not
        counted): what the daily spend limit compares."""
        with self._lock:
            try:
                return _spent(self._db, owner, since)
            except sqlite3.Error as exc:
                raise LedgerError(f"{self._path}: {exc}") from None

    def count(self) -> int:
        with self._lock:
            try:
                return int(self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])
            except sqlite3.Error as exc:
                raise LedgerError(f"{self._path}: {exc}") from None

    def recent_twins(
        self, params_hash: str, api_root: str, since: float, owner: str = ""
    ) -> list[JobRecord]:
        """Rows of the identical request (same hash, same API root, same owner) created
        since `since`, newest first."""
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = ? AND api_root = ? "
            "AND created_at >= ? AND owner = ? ORDER BY created_at DESC, ref DESC",
            (params_hash, api_root, since, owner),
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


def _spent(db: sqlite3.Connection, owner: str, since: float) -> float:
    row = db.execute(
        "SELECT COALESCE(SUM(estimated_cost_usd), 0) FROM jobs "
        "WHERE owner = ? AND created_at >= ? AND state != 'failed'",
        (owner, since),
    ).fetchone()
    return float(row[0])
