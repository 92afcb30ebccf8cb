"""The job ledger: rows through a job's life, a file it cannot use, two processes at once."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.backend import JobLedger, open_ledger
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.ledger import Claim, Ledger
from atlas_mcp_py.jobs.records import SCHEMA_VERSION, prompt_excerpt

API = "https://api.atlascloud.ai"


@pytest.fixture
def ledger(ledger_location: str | Path) -> Iterator[JobLedger]:
    """The ledger on each backend: SQLite and PostgreSQL."""
    with contextlib.closing(open_ledger(ledger_location)) as opened:
        yield opened


def submit(ledger: JobLedger, params_hash: str = "h1", **extra: object) -> int:
    row = ledger.add(
        model="minimax/hailuo-02/fast",
        api_root=API,
        params={"prompt": "a cat", "duration": 6},
        params_hash=params_hash,
        prompt="a cat",
        estimated_cost_usd=0.1,
        **extra,  # type: ignore[arg-type]
    )
    return row.ref


def test_opening_creates_the_directory_a_versioned_schema_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "jobs.sqlite3"
    Ledger.open(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Ledger.open(path) as again:  # reopening an existing ledger
        assert again.count() == 0


def test_a_submission_is_recorded_then_gets_its_id_and_every_status(ledger: JobLedger) -> None:
    ref = submit(ledger)
    row = ledger.get_ref(ref)
    assert row is not None
    assert (row.state, row.prediction_id, row.status) == ("submitting", None, "submitting")
    assert row.params == {"prompt": "a cat", "duration": 6}
    assert row.estimated_cost_usd == pytest.approx(0.1)
    ledger.attach(ref, Prediction(id="p1", status="created"))
    assert ledger.update(Prediction(id="p1", status="processing"))
    row = ledger.get("p1")
    assert row is not None and row.state == "processing" and row.completed_at is None
    ledger.update(Prediction(id="p1", status="succeeded", outputs=["https://cdn/v.mp4"]))
    assert ledger.set_local_path("p1", "/work/out/v.mp4")
    row = ledger.get("p1")
    assert row is not None
    assert row.state == "completed" and row.status == "succeeded"
    assert row.outputs == ["https://cdn/v.mp4"] and row.video_url == "https://cdn/v.mp4"
    assert row.completed_at is not None and row.local_path == "/work/out/v.mp4"


def test_a_failure_keeps_its_error_and_unknown_ids_are_not_updated(ledger: JobLedger) -> None:
    ledger.attach(submit(ledger), Prediction(id="p1", status="created"))
    ledger.update(Prediction(id="p1", status="failed", error="moderation says no"))
    row = ledger.get("p1")
    assert row is not None and row.state == "failed" and row.error == "moderation says no"
    assert not ledger.update(Prediction(id="never-seen", status="completed"))
    assert not ledger.set_local_path("never-seen", "/x")


def test_an_unknown_outcome_stays_listed_and_a_refused_request_is_forgotten(
    ledger: JobLedger,
) -> None:
    lost, refused = submit(ledger, "h1"), submit(ledger, "h2")
    ledger.mark_unknown(lost, "read timeout")
    ledger.discard(refused)
    (row,) = ledger.recent(10)
    assert row.ref == lost and row.state == "unknown" and row.note == "read timeout"
    assert ledger.recent(10, state="unknown") == [row]
    assert ledger.recent(10, state=["processing", "completed"]) == []


def test_a_lost_id_found_later_merges_with_a_row_another_process_wrote(ledger: JobLedger) -> None:
    mine, theirs = submit(ledger), submit(ledger)
    ledger.attach(theirs, Prediction(id="p1", status="processing"))
    ledger.attach(mine, Prediction(id="p1", status="processing"), note="found in history")
    (row,) = ledger.recent(10)
    assert row.prediction_id == "p1" and row.ref == theirs and row.note == "found in history"


def test_the_same_request_is_found_by_hash_root_and_time(ledger: JobLedger) -> None:
    old = submit(ledger, "h1", created_at=time.time() - 3600)
    new = submit(ledger, "h1")
    submit(ledger, "h2")
    ledger.add(model="m", api_root="http://127.0.0.1:9", params={}, params_hash="h1")
    found = ledger.recent_twins("h1", API, since=time.time() - 600)
    assert [r.ref for r in found] == [new]
    older = ledger.recent_twins("h1", API, since=0)
    assert [r.ref for r in older] == [new, old]


def test_recent_lists_newest_first_within_the_limit(ledger: JobLedger) -> None:
    refs = [submit(ledger, f"h{n}", created_at=1000.0 + n) for n in range(5)]
    assert [r.ref for r in ledger.recent(3)] == refs[::-1][:3]


def test_a_job_checked_here_but_submitted_elsewhere_gets_a_row(ledger: JobLedger) -> None:
    seen = ledger.remember(
        Prediction(id="p9", model="m/x", status="processing"), api_root=API, created_at=5.0
    )
    assert seen is not None and seen.model == "m/x" and seen.created_at == 5.0
    again = ledger.remember(Prediction(id="p9", status="completed"), api_root=API)
    assert again is not None and again.state == "completed" and ledger.count() == 1


def test_prompt_excerpts_are_short_and_single_line() -> None:
    assert prompt_excerpt("a\n  cat") == "a cat"
    assert len(prompt_excerpt("x" * 5000)) == 200
    assert prompt_excerpt(None) == ""


def test_a_garbage_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"\x00\xffnot sqlite" * 100)
    with pytest.raises(LedgerError, match=r"jobs\.sqlite3.*not a database"):
        Ledger.open(path)
    assert path.read_bytes().startswith(b"\x00\xffnot sqlite")  # left as it was


def test_a_state_dir_that_cannot_exist_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(LedgerError, match="cannot create"):
        Ledger.open(tmp_path / "file" / "state" / "jobs.sqlite3")


def test_a_ledger_from_a_newer_version_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(LedgerError, match="newer"):
        Ledger.open(path)


@pytest.mark.anyio
async def test_an_unusable_ledger_turns_into_a_warning_note(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    await anyio.Path(path).write_bytes(b"garbage" * 100)
    book = await JobBook.open(path)
    notes: list[str] = []
    assert not book.available
    assert await book.run(notes, lambda ledger: ledger.count()) is None
    assert notes and "job ledger is unavailable" in notes[0] and str(path) in notes[0]
    assert "ATLAS_MCP_STATE_DIR" in notes[0]
    await book.update(Prediction(id="p", status="completed"))  # quietly does nothing
    assert await book.get("p") is None


@pytest.mark.anyio
async def test_a_write_that_fails_later_adds_a_note_instead_of_failing(tmp_path: Path) -> None:
    book = await JobBook.open(tmp_path / "jobs.sqlite3")
    assert book.ledger is not None
    book.ledger.close()  # stands in for a disk that went away
    notes: list[str] = []
    assert await book.run(notes, lambda ledger: ledger.count()) is None
    assert notes and "could not record" in notes[0]


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from atlas_mcp_py.jobs.ledger import Ledger
    from atlas_mcp_py.atlas.models import Prediction

    path, go, name, count = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ledger = Ledger.open(path)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    for n in range(count):
        row = ledger.add(model="m", api_root="r", params={"n": n}, params_hash=f"{name}{n}")
        ledger.attach(row.ref, Prediction(id=f"{name}-{n}", status="processing"))
        ledger.update(Prediction(id=f"{name}-{n}", status="completed"))
    """
)


def test_two_processes_writing_at_once_lose_no_rows(tmp_path: Path) -> None:
    path, go = tmp_path / "jobs.sqlite3", tmp_path / "go"
    Ledger.open(path).close()
    count = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(go), name, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    for writer in writers:  # both have the ledger open ...
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
    go.touch()  # ... and start writing together
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err.decode()
    with Ledger.open(path) as ledger:
        rows = ledger.recent(1000)
    assert len(rows) == 2 * count
    assert {r.prediction_id for r in rows} == {f"{n}-{i}" for n in "ab" for i in range(count)}
    assert {r.state for r in rows} == {"completed"}


def test_a_terminal_state_is_never_left_by_a_late_answer(ledger: JobLedger) -> None:
    ref = submit(ledger)
    ledger.attach(ref, Prediction(id="p1", status="processing"))
    ledger.update(Prediction(id="p1", status="succeeded", outputs=["https://cdn/v.mp4"]))
    assert ledger.update(Prediction(id="p1", status="processing")) is True  # known id
    ledger.remember(Prediction(id="p1", status="queued"), api_root=API)
    row = ledger.get("p1")
    assert row is not None
    assert (row.state, row.status, row.outputs) == ("completed", "succeeded", ["https://cdn/v.mp4"])
    ref2 = submit(ledger, "h2")
    ledger.attach(ref2, Prediction(id="p2", status="failed", error="moderation"))
    ledger.attach(ref2, Prediction(id="p2", status="processing"))
    failed = ledger.get("p2")
    assert failed is not None and (failed.state, failed.error) == ("failed", "moderation")


def test_a_claim_writes_the_row_only_when_no_identical_request_may_count(ledger: JobLedger) -> None:
    def claim(since: float | None, skip: tuple[int, ...] = ()) -> Claim:
        return ledger.claim(
            model="m",
            api_root=API,
            params={"prompt": "a cat"},
            params_hash="h",
            prompt="a cat",
            since=since,
            skip=skip,
        )

    first = claim(time.time() - 60)
    assert first.row is not None and first.row.state == "submitting"
    second = claim(time.time() - 60)
    assert second.row is None
    assert [r.ref for r in second.earlier] == [first.row.ref]
    third = claim(time.time() - 60, skip=(first.row.ref,))
    assert third.row is not None  # the earlier one was found not to count
    assert claim(None).row is not None  # no check asked
    assert ledger.count() == 3


def test_text_that_is_not_utf8_is_stored_cleaned_never_a_crash(ledger: JobLedger) -> None:
    ref = ledger.add(
        model="m", api_root=API, params={"prompt": "x\ud83d"}, params_hash="h", prompt="half \ud83d"
    ).ref
    ledger.attach(ref, Prediction(id="p1", status="failed", error="cut \ud83d here"))
    row = ledger.get("p1")
    assert row is not None
    assert row.prompt == "half \ufffd" and row.error == "cut \ufffd here"
    assert row.params == {"prompt": "x\ufffd"}


def test_the_request_id_and_the_outputs_expiry_are_recorded(ledger: JobLedger) -> None:
    ref = submit(ledger)
    row = ledger.get_ref(ref)
    assert row is not None and row.expires_at == pytest.approx(row.created_at + 14 * 86400)
    ledger.attach(ref, Prediction(id="p1", status="created", request_id="req-1", expire_hours=2))
    row = ledger.get("p1")
    assert row is not None and row.request_id == "req-1"
    assert row.expires_at == pytest.approx(row.created_at + 2 * 3600)


VERSION_1 = """
CREATE TABLE jobs (
    ref INTEGER PRIMARY KEY AUTOINCREMENT, prediction_id TEXT UNIQUE, api_root TEXT NOT NULL,
    model TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL, params TEXT NOT NULL,
    params_hash TEXT NOT NULL, prompt TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
    updated_at REAL NOT NULL, completed_at REAL, estimated_cost_usd REAL,
    outputs TEXT NOT NULL DEFAULT '[]', error TEXT, local_path TEXT, note TEXT, pid INTEGER
);
CREATE INDEX jobs_by_hash ON jobs (params_hash, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
INSERT INTO jobs (prediction_id, api_root, model, status, state, params, params_hash,
    created_at, updated_at, outputs)
    VALUES ('old-1', 'https://api.atlascloud.ai', 'm', 'completed', 'completed', '{}', 'h',
    1000.0, 1000.0, '["https://cdn/v.mp4"]');
PRAGMA user_version = 1;
"""


def test_a_version_1_ledger_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(VERSION_1)
    db.close()
    with Ledger.open(path) as ledger:
        row = ledger.get("old-1")
        assert row is not None and row.video_url == "https://cdn/v.mp4"
        assert row.request_id is None
        assert row.expires_at == pytest.approx(1000.0 + 14 * 86400)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    db.close()
