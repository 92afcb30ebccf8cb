"""`atlas-mcp ledger migrate`: move an existing SQLite ledger into PostgreSQL.

Every row is copied as it is (its prediction id, states, outputs, owner, times), in one
transaction: either the whole ledger arrives or nothing does. Running it again copies
only what is not there yet (a row with a prediction id already present, or an id-less
row with the same request and creation time, is skipped), so a second run after a
failure, or after the old server wrote a few more rows, is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.ledger_pg import PostgresLedger

__all__ = ["Migrated", "migrate_ledger"]

ALL_ROWS = 1 << 62


@dataclass(frozen=True)
class Migrated:
    copied: int
    skipped: int
    total: int
    """Rows in PostgreSQL afterwards."""


def migrate_ledger(source: Path, url: str) -> Migrated:
    """Copy the SQLite ledger at `source` into the PostgreSQL ledger at `url` (its schema
    created or brought up to date first). Raises `LedgerError`."""
    if not source.is_file():
        raise LedgerError(f"{source}: no ledger file there")
    with Ledger.open(source) as old:
        rows = old.recent(ALL_ROWS)
    rows.reverse()  # oldest first: refs in PostgreSQL keep their order
    with PostgresLedger.open(url) as new:
        copied = new.import_rows(rows)
        total = new.count()
    return Migrated(copied, len(rows) - copied, total)
