"""The PostgreSQL ledger against a real PostgreSQL server (tests/services.py starts it):
what only a database shared by replicas must hold. Several `PostgresLedger`s, each with
its own connection pool, stand for several replicas."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from services import PostgresServer

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.ledger import Claim, Ledger
from atlas_mcp_py.jobs.ledger_pg import PostgresLedger
from atlas_mcp_py.jobs.ledger_pg_sql import PG_SCHEMA_VERSION
from atlas_mcp_py.jobs.migrate import migrate_ledger

API = "https://api.atlascloud.ai"


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.new_database()


@pytest.fixture
def replicas(url: str) -> Iterator[list[PostgresLedger]]:
    opened = [PostgresLedger.open(url, max_size=4) for _ in range(3)]
    yield opened
    for ledger in opened:
        ledger.close()


def at_once(count: int, fn: Callable[[int], object]) -> list[object]:
    """`fn(0..count-1)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        results[n] = fn(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def claim(ledger: PostgresLedger, params_hash: str, owner: str = "") -> Claim:
    return ledger.claim(
        model="m",
        api_root=API,
        params={"prompt": "a cat"},
        params_hash=params_hash,
        prompt="a cat",
        estimated_cost_usd=0.1,
        since=time.time() - 60,
        owner=owner,
    )


def test_identical_claims_on_three_replicas_at_the_same_instant_write_one_row(
    replicas: list[PostgresLedger],
) -> None:
    for round_ in range(15):

        def one(n: int, key: str = f"h{round_}") -> Claim:
            return claim(replicas[n % 3], key)

        claims = at_once(9, one)
        written = [c for c in claims if isinstance(c, Claim) and c.row is not None]
        assert len(written) == 1, f"round {round_}: {len(written)} rows for one request"
        assert all(isinstance(c, Claim) and (c.row or c.earlier) for c in claims)
    assert replicas[0].count() == 15


def test_the_duplicate_guard_is_per_user(replicas: list[PostgresLedger]) -> None:
    claims = at_once(4, lambda n: claim(replicas[n % 3], "same", owner=f"user{n % 2}"))
    written = [c.row for c in claims if isinstance(c, Claim) and c.row is not None]
    assert sorted(r.owner for r in written) == ["user0", "user1"]


def test_a_terminal_state_is_never_left_when_replicas_write_the_same_job_at_once(
    replicas: list[PostgresLedger],
) -> None:
    for n in range(10):
        row = replicas[0].add(model="m", api_root=API, params={}, params_hash=f"t{n}")
        replicas[0].attach(row.ref, Prediction(id=f"p{n}", status="processing"))
        done = Prediction(id=f"p{n}", status="completed", outputs=["https://cdn/v.mp4"])
        late = Prediction(id=f"p{n}", status="processing")
        answers = [done, late, late, late, late, late]

        def write(k: int, answers: list[Prediction] = answers) -> bool:
            return replicas[k % 3].update(answers[k])

        at_once(6, write)
        final = replicas[1].get(f"p{n}")
        assert final is not None and final.state == "completed", n
        assert final.outputs == ["https://cdn/v.mp4"]


def test_replicas_starting_together_migrate_once(url: str) -> None:
    opened = at_once(4, lambda n: PostgresLedger.open(url, max_size=1))
    for ledger in opened:
        assert isinstance(ledger, PostgresLedger)
        ledger.close()
    with psycopg.connect(url) as db:
        versions = db.execute("SELECT version FROM atlas_mcp_schema").fetchall()
    assert versions == [(PG_SCHEMA_VERSION,)]


def test_a_version_3_database_gains_the_tasks_table(url: str) -> None:
    """A database written before tasks moved into PostgreSQL is migrated on open."""
    PostgresLedger.open(url).close()
    with psycopg.connect(url) as db:
        db.execute("DROP TABLE tasks")
        db.execute("UPDATE atlas_mcp_schema SET version = 3")
    PostgresLedger.open(url).close()
    with psycopg.connect(url) as db:
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (0,)
        versions = db.execute("SELECT version FROM atlas_mcp_schema").fetchall()
    assert versions == [(PG_SCHEMA_VERSION,)]


def test_a_database_of_a_newer_version_is_refused(url: str) -> None:
    PostgresLedger.open(url).close()
    with psycopg.connect(url) as db:
        db.execute("UPDATE atlas_mcp_schema SET version = 99")
    with pytest.raises(LedgerError, match="newer"):
        PostgresLedger.open(url)


def test_an_unreachable_server_is_a_ledger_error_that_never_shows_the_password() -> None:
    secret_url = "postgresql://atlas:hunter2-secret@127.0.0.1:1/jobs"
    with pytest.raises(LedgerError) as caught:
        PostgresLedger.open(secret_url, timeout=1)
    assert "hunter2" not in str(caught.value)
    assert "postgresql://atlas@127.0.0.1:1/jobs" in str(caught.value)


def sqlite_ledger_with_rows(path: Path) -> None:
    with Ledger.open(path) as old:
        for n in range(3):
            row = old.add(
                model="m", api_root=API, params={"n": n}, params_hash=f"h{n}", owner="ann"
            )
            old.attach(row.ref, Prediction(id=f"old-{n}", status="completed", outputs=["u"]))
        old.mark_unknown(old.add(model="m", api_root=API, params={}, params_hash="x").ref, "lost")


def test_migrate_copies_every_row_once_and_a_second_run_copies_nothing(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "jobs.sqlite3"
    sqlite_ledger_with_rows(path)
    first = migrate_ledger(path, url)
    assert (first.copied, first.skipped, first.total) == (4, 0, 4)
    again = migrate_ledger(path, url)
    assert (again.copied, again.skipped, again.total) == (0, 4, 4)
    with PostgresLedger.open(url) as new:
        row = new.get("old-1")
        assert row is not None and (row.state, row.outputs, row.owner) == (
            "completed",
            ["u"],
            "ann",
        )
        assert [r.state for r in new.recent(10, state="unknown")] == ["unknown"]
        # the copied rows still guard: the same request of ann is a duplicate
        found = new.claim(
            model="m",
            api_root=API,
            params={"n": 1},
            params_hash="h1",
            since=0,
            owner="ann",
        )
        assert found.row is None and found.earlier[0].prediction_id == "old-1"


def test_the_migrate_command_reports_what_it_copied(tmp_path: Path, url: str) -> None:
    path = tmp_path / "jobs.sqlite3"
    sqlite_ledger_with_rows(path)
    run = subprocess.run(
        [sys.executable, "-m", "atlas_mcp_py", "ledger", "migrate", "--from", str(path)],
        env={"ATLAS_MCP_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "copied 4 jobs" in run.stdout and "4 in PostgreSQL now" in run.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "atlas_mcp_py", "ledger", "migrate", "--from", str(tmp_path / "no")],
        env={"ATLAS_MCP_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no ledger file there" in missing.stderr
    assert sqlite3.connect(path).execute("SELECT count(*) FROM jobs").fetchone()[0] == 4
