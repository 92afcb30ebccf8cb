"""The ledger's pending file: a paid job's id that could not be written into the ledger.

When Atlas accepted a POST but the ledger cannot take the id (the database stays locked
past its busy timeout, the file was deleted or replaced), the id must not live only in
memory. `Ledger.attach` appends it here instead, one JSON line fsynced to a small file
next to the ledger (`jobs.sqlite3.pending-<pid>`: one per process, so appends and
replays of one file are serialised by that process's lock). The ledger replays its own
file before its next write, and, when it is opened, the files of processes that have
ended (a server that stopped before it could write them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.jobs.records import JobRecord, _apply_status, _attach, _insert, _row_values

__all__ = [
    "append",
    "identity",
    "journal_path",
    "keep",
    "read",
    "remove",
    "replay",
    "replayable",
]

logger = logging.getLogger(__name__)

_SUFFIX = ".pending-"


def journal_path(ledger: Path, pid: int | None = None) -> Path:
    """The pending file of process `pid` (default: this one) for the ledger at `ledger`."""
    return ledger.with_name(f"{ledger.name}{_SUFFIX}{os.getpid() if pid is None else pid}")


def append(path: Path, entry: dict[str, Any]) -> None:
    """Add `entry` as one line, on disk (file and directory synced) before returning."""
    line = (json.dumps(entry, separators=(",", ":"), ensure_ascii=True) + "\n").encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if sys.platform != "win32":
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def keep(
    path: Path, ref: int, prediction: Prediction, note: str | None, row: JobRecord | None
) -> None:
    """Append the id of row `ref` (with the row as it was, to write it anew if the
    ledger file is gone)."""
    entry = {
        "ref": ref,
        "prediction": prediction.model_dump(mode="json"),
        "note": note,
        "row": row.model_dump(mode="json") if row is not None else None,
    }
    append(path, entry)


def identity(path: Path) -> tuple[int, int]:
    """(device, inode) of the file at `path`: which file it is, not what it holds."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # replayed again later: each entry is idempotent
            logger.warning("job ledger: could not remove %s: %s", path, exc)


def read(path: Path) -> list[dict[str, Any]]:
    """The entries of a pending file (a torn last line, from a crash mid-write, skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def replayable(ledger: Path) -> list[Path]:
    """This process's pending file and those of processes that have ended."""
    found = []
    for path in ledger.parent.glob(f"{ledger.name}{_SUFFIX}*"):
        pid = path.name.rsplit(_SUFFIX, 1)[-1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            found.append(path)
    return sorted(found)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return False  # replaying twice is harmless: each entry is applied idempotently
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def replay(db: sqlite3.Connection, path: Path) -> None:
    """Apply each entry of a pending file (idempotent: an id already there is updated),
    in the caller's transaction. An entry the database refuses as it stands (a
    constraint) is skipped with a log line, so one bad entry never blocks every write."""
    for entry in read(path):
        try:
            prediction = Prediction.model_validate(entry["prediction"])
            row = JobRecord.model_validate(entry["row"]) if entry.get("row") else None
            ref, note = int(entry["ref"]), entry.get("note")
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("job ledger: unreadable pending entry in %s skipped (%s)", path, exc)
            continue
        db.execute("SAVEPOINT pending_entry")
        try:
            _apply(db, ref, prediction, note, row)
        except sqlite3.IntegrityError as exc:
            db.execute("ROLLBACK TO pending_entry")
            logger.warning("job ledger: pending id %s not written (%s)", prediction.id, exc)
        db.execute("RELEASE pending_entry")


def _apply(
    db: sqlite3.Connection,
    ref: int,
    prediction: Prediction,
    note: str | None,
    row: JobRecord | None,
) -> None:
    """One pending id into the ledger: its own row (same ref, hash and creation time),
    else the row that already holds the id, else a new row from what was kept."""
    mine = db.execute(
        "SELECT prediction_id, params_hash, created_at FROM jobs WHERE ref = ?", (ref,)
    ).fetchone()
    if (
        mine is not None
        and row is not None
        and (mine["params_hash"], mine["created_at"]) == (row.params_hash, row.created_at)
        and mine["prediction_id"] in (None, prediction.id)
    ):
        _attach(db, ref, prediction, note)  # the row it was meant for, by its own key
    elif _apply_status(db, "prediction_id", prediction.id, prediction):
        pass  # recorded meanwhile (another process, atlas_check_status)
    else:  # the row is gone with a deleted ledger file: write it anew
        kept = row or JobRecord(
            ref=ref,
            prediction_id=prediction.id,
            api_root="",
            model=prediction.model or "unknown",
            status=prediction.status,
            state="unknown",
            params={},
            params_hash="",
            prompt="",
            created_at=time.time(),
            updated_at=time.time(),
        )
        values = _row_values(
            model=kept.model,
            api_root=kept.api_root,
            params=kept.params,
            params_hash=kept.params_hash,
            prompt=kept.prompt,
            estimated_cost_usd=kept.estimated_cost_usd,
            status=prediction.status,
            prediction_id=prediction.id,
            created_at=kept.created_at,
            note=note or "written from the pending file after the ledger was unavailable",
        )
        _attach(db, _insert(db, values).ref, prediction, note)
