"""The job ledger in PostgreSQL: what several replicas of a team server share.

The same public API and the same guarantees as the SQLite `Ledger`, on psycopg 3 with a
connection pool (the optional extra `postgres`; imported only when
`ATLAS_MCP_DATABASE_URL` names a PostgreSQL server, so stdio startup never loads it).

Cross-replica safety comes from PostgreSQL itself, not from a read-then-write: a claim
takes a transaction-scoped advisory lock on its user (`pg_advisory_xact_lock`), so the
duplicate check, the daily spend check and the new row are one step for every replica;
a status update locks its row (`SELECT ... FOR UPDATE`), so a terminal state is never
left even when two replicas write the same job at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from atlas_mcp_py.atlas import Prediction, clean_text
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.ledger import Claim
from atlas_mcp_py.jobs.ledger_pg_sql import (
    INSERT,
    MIGRATION_LOCK,
    advisory_lock,
    apply_status,
    insert_row,
    migrate,
    spent,
)
from atlas_mcp_py.jobs.records import (
    _COLUMNS,
    JobRecord,
    RecordState,
    _dumps,
    _record,
    _row_values,
    _text,
    utc_day_start,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresLedger", "redact_url"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

POOL_MAX_SIZE = 10
"""Connections per replica: every ledger call is one short transaction in a worker thread."""
POOL_TIMEOUT_SECONDS = 10.0
"""How long a call waits for a connection (the pool full, or the server unreachable)."""


def redact_url(url: str) -> str:
    """The URL without its password: what messages and logs show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PostgresLedger:
    """The ledger in a PostgreSQL database. Thread-safe (a connection pool); every
    method is one short transaction; raises `LedgerError` on a database problem."""

    def __init__(self, pool: ConnectionPool[Any], url: str) -> None:
        self._pool = pool
        self._url = url

    @classmethod
    def open(
        cls, url: str, *, max_size: int = POOL_MAX_SIZE, timeout: float = POOL_TIMEOUT_SECONDS
    ) -> PostgresLedger:
        """Connect to `url`, bring the schema to this version, and return the ledger."""
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise LedgerError(
                "ATLAS_MCP_DATABASE_URL names PostgreSQL, but psycopg is not installed: "
                "install atlas-mcp-py[postgres]"
            ) from None
        shown = redact_url(url)
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=timeout,
            open=False,
            name="atlas-mcp-ledger",
        )
        try:
            pool.open(wait=True, timeout=timeout)
            ledger = cls(pool, url)
            ledger._transaction(migrate)
        except (psycopg.Error, OSError) as exc:
            pool.close()
            raise LedgerError(f"{shown}: {_message(exc)}") from None
        except LedgerError as exc:
            pool.close()
            raise LedgerError(f"{shown}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the pool's own timeout is not a psycopg.Error
            pool.close()
            raise LedgerError(f"{shown}: {_message(exc)}") from None
        return ledger

    @property
    def location(self) -> str:
        """Where the ledger is, without the password."""
        return redact_url(self._url)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _transaction(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`fn(connection)` inside one transaction, committed when it returns."""
        try:
            with self._pool.connection() as db, db.transaction():
                return fn(db)
        except LedgerError:
            raise
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise LedgerError(f"{self.location}: {_message(exc)}") from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        rows = self._transaction(lambda db: db.execute(sql, params).fetchall())
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
        return self._transaction(lambda db: insert_row(db, values))

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
        """The duplicate check, the spend check and the new row as one step for every
        replica: the transaction holds an advisory lock on the owner until it commits."""
        values = _row_values(
            model=model,
            api_root=api_root,
            params=params,
            params_hash=params_hash,
            prompt=prompt,
            estimated_cost_usd=estimated_cost_usd,
            owner=owner,
        )

        def claim(db: psycopg.Connection[Any]) -> Claim:
            advisory_lock(db, f"atlas-mcp:owner:{owner}")
            if since is not None:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = %s AND api_root = %s "
                    "AND created_at >= %s AND state != 'failed' AND owner = %s "
                    "ORDER BY created_at DESC, ref DESC",
                    (params_hash, api_root, since, owner),
                ).fetchall()
                earlier = [r for r in map(_record, rows) if r.ref not in skip]
                if earlier:
                    return Claim(None, earlier)
            if daily_limit_usd is not None:
                today = spent(db, owner, utc_day_start(time.time()))
                if today + (estimated_cost_usd or 0.0) > daily_limit_usd:
                    return Claim(None, [], today)
            return Claim(insert_row(db, values), [])

        return self._transaction(claim)

    def attach(self, ref: int, prediction: Prediction, *, note: str | None = None) -> None:
        """Row `ref` became prediction `prediction.id`; merged into another row that
        already holds that id (another replica recorded it first)."""

        def attach(db: psycopg.Connection[Any]) -> None:
            advisory_lock(db, f"atlas-mcp:prediction:{prediction.id}")
            row_ref = ref
            other = db.execute(
                "SELECT ref FROM jobs WHERE prediction_id = %s AND ref != %s",
                (prediction.id, row_ref),
            ).fetchone()
            if other is not None:
                db.execute("DELETE FROM jobs WHERE ref = %s", (row_ref,))
                row_ref = int(other["ref"])
            hours = prediction.expire_hours
            db.execute(
                "UPDATE jobs SET prediction_id = %s, note = COALESCE(%s, note), "
                "request_id = COALESCE(%s, request_id), "
                "expires_at = COALESCE(created_at + %s, expires_at) WHERE ref = %s",
                (
                    clean_text(prediction.id),
                    _text(note),
                    _text(prediction.request_id),
                    hours * 3600 if hours is not None else None,
                    row_ref,
                ),
            )
            apply_status(db, "ref", row_ref, prediction)

        self._transaction(attach)

    def mark_unknown(self, ref: int, note: str) -> None:
        """The request of row `ref` may have created a job, but no id came back."""
        self._transaction(
            lambda db: db.execute(
                "UPDATE jobs SET status = 'unknown', state = 'unknown', note = %s, "
                "updated_at = %s WHERE ref = %s AND prediction_id IS NULL",
                (clean_text(note), time.time(), ref),
            )
        )

    def discard(self, ref: int) -> None:
        """Forget row `ref`: its request was refused or never left this machine."""
        self._transaction(
            lambda db: db.execute(
                "DELETE FROM jobs WHERE ref = %s AND prediction_id IS NULL", (ref,)
            )
        )

    def update(self, prediction: Prediction) -> bool:
        """Record an observed status of a known job; False when the id is not in the
        ledger. A `completed` or `failed` job keeps that state."""
        return self._transaction(
            lambda db: apply_status(db, "prediction_id", prediction.id, prediction)
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
        """Update the row of `prediction`, or add one for a job this ledger never saw."""
        values = _row_values(
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

        def remember(db: psycopg.Connection[Any]) -> None:
            if not apply_status(db, "prediction_id", prediction.id, prediction):
                db.execute(f"{INSERT} ON CONFLICT (prediction_id) DO NOTHING", values)
                apply_status(db, "prediction_id", prediction.id, prediction)

        self._transaction(remember)
        return self.get(prediction.id)

    def set_local_path(self, prediction_id: str, local_path: str | os.PathLike[str]) -> bool:
        """Note where the job's output was saved; False when the id is not in the ledger."""
        count = self._transaction(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET local_path = %s, updated_at = %s WHERE prediction_id = %s",
                    (clean_text(os.fspath(local_path)), time.time(), prediction_id),
                ).rowcount
            )
        )
        return count > 0

    def import_rows(self, rows: Sequence[JobRecord]) -> int:
        """Copy rows of another ledger as they are, in one transaction; rows already here
        (the same prediction id, or an id-less row of the same request and creation time)
        are skipped. Returns how many were copied."""

        def copy(db: psycopg.Connection[Any]) -> int:
            advisory_lock(db, MIGRATION_LOCK)
            copied = 0
            for row in rows:
                if (
                    row.prediction_id is None
                    and db.execute(
                        "SELECT 1 FROM jobs WHERE prediction_id IS NULL AND params_hash = %s "
                        "AND created_at = %s AND owner = %s",
                        (row.params_hash, row.created_at, row.owner),
                    ).fetchone()
                ):
                    continue
                data = row.model_dump(exclude={"ref"})
                data["params"], data["outputs"] = _dumps(row.params), _dumps(row.outputs)
                names = ", ".join(data)
                marks = ", ".join(["%s"] * len(data))
                cursor = db.execute(
                    f"INSERT INTO jobs ({names}) VALUES ({marks}) "
                    "ON CONFLICT (prediction_id) DO NOTHING",
                    tuple(data.values()),
                )
                copied += cursor.rowcount
            return copied

        return self._transaction(copy)

    # -- reading -----------------------------------------------------------------------

    def get(self, prediction_id: str) -> JobRecord | None:
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE prediction_id = %s", (prediction_id,))

    def get_ref(self, ref: int) -> JobRecord | None:
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE ref = %s", (ref,))

    def recent(
        self,
        limit: int = 20,
        *,
        state: RecordState | Sequence[RecordState] | None = None,
        owner: str | None = None,
    ) -> list[JobRecord]:
        """The newest rows first, optionally only those in `state` and of `owner`."""
        states = [state] if isinstance(state, str) else list(state or [])
        clauses: list[str] = []
        params: list[object] = []
        if states:
            clauses.append("state = ANY(%s)")
            params.append(states)
        if owner is not None:
            clauses.append("owner = %s")
            params.append(owner)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, ref DESC LIMIT %s",
            (*params, max(0, limit)),
        )

    def spent_since(self, owner: str, since: float) -> float:
        """The estimated cost of `owner`'s jobs created since `since` (failed not counted)."""
        return self._transaction(lambda db: spent(db, owner, since))

    def count(self) -> int:
        row = self._transaction(lambda db: db.execute("SELECT count(*) AS n FROM jobs").fetchone())
        return int(row["n"]) if row is not None else 0

    def recent_twins(
        self, params_hash: str, api_root: str, since: float, owner: str = ""
    ) -> list[JobRecord]:
        """Rows of the identical request of `owner` created since `since`, newest first."""
        return self._read(
            f"SELECT {_COLUMNS} FROM jobs WHERE params_hash = %s AND api_root = %s "
            "AND created_at >= %s AND owner = %s ORDER BY created_at DESC, ref DESC",
            (params_hash, api_root, since, owner),
        )

    def known_ids(self, prediction_ids: Sequence[str]) -> set[str]:
        """Which of these prediction ids the ledger already holds."""
        if not prediction_ids:
            return set()
        rows = self._transaction(
            lambda db: db.execute(
                "SELECT prediction_id FROM jobs WHERE prediction_id = ANY(%s)",
                (list(prediction_ids),),
            ).fetchall()
        )
        return {row["prediction_id"] for row in rows}


def _is_db_error(exc: BaseException) -> bool:
    import psycopg
    from psycopg_pool import PoolTimeout

    return isinstance(exc, psycopg.Error | PoolTimeout | ValueError | OverflowError)


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
