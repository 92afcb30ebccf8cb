"""The ledger when its file misbehaves (issue 21, items 5 and 6): deleted or replaced
under the running server (refused, never written into the unlinked file), or locked
while a paid POST is answered (the id kept in the pending file, written in by its row's
own key as soon as the database can be written, or at the next open)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs import journal
from atlas_mcp_py.jobs import ledger as ledger_module
from atlas_mcp_py.jobs.ledger import Ledger

API = "https://api.atlascloud.ai"


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "BUSY_TIMEOUT_SECONDS", 0.2)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "jobs.sqlite3"


def claim(ledger: Ledger, params_hash: str = "h1") -> int:
    found = ledger.claim(
        model="vendor/model",
        api_root=API,
        params={"prompt": "a cat"},
        params_hash=params_hash,
        prompt="a cat",
        estimated_cost_usd=0.25,
        since=None,
    )
    assert found.row is not None
    return found.row.ref


def remove_ledger(path: Path) -> None:
    for each in path.parent.glob(path.name + "*"):
        if ".pending-" not in each.name:
            each.unlink()


@pytest.fixture
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process holding the database's write lock (`BEGIN EXCLUSIVE`)."""
    Ledger.open(path).close()
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    yield other
    other.close()


def test_an_id_the_locked_ledger_cannot_take_is_kept_and_written_by_its_row_key(
    path: Path, locked: sqlite3.Connection
) -> None:
    with Ledger.open(path) as ledger:
        ref = claim(ledger)
        locked.execute("BEGIN EXCLUSIVE")
        with pytest.raises(LedgerError, match=r"p-1 is kept in jobs\.sqlite3\.pending-"):
            ledger.attach(ref, Prediction(id="p-1", status="processing"))
        assert journal.journal_path(path).exists()
        locked.execute("COMMIT")
        # the next write puts the id in first: the status update then finds its row
        assert ledger.update(Prediction(id="p-1", status="completed", outputs=["https://x/v.mp4"]))
        row = ledger.get("p-1")
        assert row is not None and row.ref == ref and row.state == "completed"
        assert not journal.journal_path(path).exists()
        assert ledger.count() == 1


def test_an_id_kept_aside_is_written_at_the_next_open(
    path: Path, locked: sqlite3.Connection
) -> None:
    ledger = Ledger.open(path)
    ref = claim(ledger)
    locked.execute("BEGIN EXCLUSIVE")
    with pytest.raises(LedgerError):
        ledger.attach(ref, Prediction(id="p-2", status="processing"))
    ledger.close()
    locked.execute("COMMIT")
    with Ledger.open(path) as reopened:
        row = reopened.get("p-2")
        assert row is not None and row.ref == ref and row.state == "processing"
        assert row.estimated_cost_usd == 0.25
    assert not journal.journal_path(path).exists()


def test_a_deleted_ledger_refuses_new_paid_jobs_naming_the_fix(path: Path) -> None:
    with Ledger.open(path) as ledger:
        claim(ledger, "h1")
        remove_ledger(path)
        with pytest.raises(LedgerError, match=r"deleted or replaced.*Fix: put the file back"):
            claim(ledger, "h2")
        assert not path.exists()  # nothing recreated it behind the server's back


def test_a_replaced_ledger_is_refused(path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    Ledger.open(other).close()
    with Ledger.open(path) as ledger:
        claim(ledger, "h1")
        os.replace(other, path)  # another ledger file now sits at the path
        with pytest.raises(LedgerError, match="deleted or replaced"):
            claim(ledger, "h2")


def test_a_ledger_moved_away_and_back_is_used_again(path: Path, tmp_path: Path) -> None:
    with Ledger.open(path) as ledger:
        claim(ledger, "h1")
        aside = tmp_path / "aside.sqlite3"
        os.rename(path, aside)
        with pytest.raises(LedgerError, match="deleted or replaced"):
            claim(ledger, "h2")
        os.rename(aside, path)  # the same file back
        claim(ledger, "h3")
        assert ledger.count() == 2


def test_a_paid_job_answered_after_the_ledger_was_deleted_is_not_lost(path: Path) -> None:
    ledger = Ledger.open(path)
    ref = claim(ledger)
    remove_ledger(path)  # while the POST is on its way
    with pytest.raises(LedgerError, match=r"deleted or replaced.*kept in"):
        ledger.attach(ref, Prediction(id="p-3", status="processing", request_id="rq-9"))
    ledger.close()
    with Ledger.open(path) as fresh:  # the restart the refusal asked for
        row = fresh.get("p-3")
        assert row is not None
        assert (row.model, row.params_hash, row.estimated_cost_usd) == ("vendor/model", "h1", 0.25)
        assert row.request_id == "rq-9" and row.state == "processing"


def test_a_torn_or_foreign_pending_file_never_stops_the_ledger(path: Path) -> None:
    Ledger.open(path).close()
    journal.journal_path(path).write_text('{"ref": 1, "prediction": {"id": "p-4", "stat')
    with Ledger.open(path) as ledger:
        assert ledger.count() == 0


def test_a_pending_id_another_process_recorded_meanwhile_is_merged_not_doubled(
    path: Path, locked: sqlite3.Connection
) -> None:
    with Ledger.open(path) as ledger:
        ref = claim(ledger)
        locked.execute("BEGIN EXCLUSIVE")
        with pytest.raises(LedgerError):
            ledger.attach(ref, Prediction(id="p-5", status="processing"))
        # meanwhile another server sharing the file found the job (history, a status check)
        locked.execute(
            "INSERT INTO jobs (prediction_id, api_root, model, status, state, params, "
            "params_hash, created_at, updated_at) VALUES ('p-5', ?, 'vendor/model', "
            "'processing', 'processing', '{}', '', 1, 1)",
            (API,),
        )
        locked.execute("COMMIT")
        claim(ledger, "h2")  # the next write puts the pending id in first
        rows = [r for r in ledger.recent() if r.prediction_id == "p-5"]
        assert len(rows) == 1 and ledger.get_ref(ref) is None
        assert ledger.count() == 2
