"""The tasks table next to the ledger (its SQLite file, or its PostgreSQL database):
durable across connections, scoped to its owner, state changes as compare-and-set.
The backend-neutral tests run once per backend (`ledger_location`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.backend import TaskBackend, open_ledger, open_task_store
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.tasks import FINISHING, TaskRecord, TaskStore, new_task_id
from atlas_mcp_py.jobs.tasks_pg import PostgresTaskStore


@pytest.fixture
def stores(ledger_location: str | Path) -> Iterator[tuple[TaskBackend, TaskBackend]]:
    """Two stores on one ledger (two processes, or two replicas)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.closing(open_ledger(ledger_location)))
        first = stack.enter_context(contextlib.closing(open_task_store(ledger_location)))
        second = stack.enter_context(contextlib.closing(open_task_store(ledger_location)))
        yield first, second


def task(owner: str = "stdio", status: str = "working") -> TaskRecord:
    now = time.time()
    return TaskRecord(
        task_id=new_task_id(),
        owner=owner,
        tool="atlas_generate_video",
        arguments={"prompt": "a fox", "save_to": "out/fox.mp4"},
        status=status,
        created_at=now,
        updated_at=now,
        prediction_id="p-1",
        notes=["a note"],
    )


def test_a_task_written_by_one_connection_is_read_by_another_next_to_the_jobs(
    tmp_path: Path,
) -> None:
    path = Ledger.default_path(tmp_path)
    with Ledger.open(path):  # the jobs table and the tasks table share the file
        pass
    first = TaskStore.open(path)
    written = first.create(task())
    first.close()
    second = TaskStore.open(path)
    read = second.get(written.task_id, "stdio")
    second.close()
    assert read == written
    with Ledger.open(path) as ledger:
        assert ledger.recent(10) == []  # the jobs table is untouched


def test_a_task_written_by_one_store_is_read_by_another(
    stores: tuple[TaskBackend, TaskBackend],
) -> None:
    first, second = stores
    written = first.create(task())
    assert second.get(written.task_id, "stdio") == written
    assert second.list("stdio", offset=0, limit=10) == [written]


def test_another_owner_does_not_see_the_task(stores: tuple[TaskBackend, TaskBackend]) -> None:
    store, other = stores
    written = store.create(task(owner="token:aaaa"))
    assert other.get(written.task_id, "token:bbbb") is None
    assert other.list("token:bbbb", offset=0, limit=10) == []
    assert other.get(written.task_id, "token:aaaa") is not None
    assert other.get("task-unknown", "token:aaaa") is None


def test_an_update_happens_only_from_the_given_statuses(
    stores: tuple[TaskBackend, TaskBackend],
) -> None:
    store, other = stores
    written = store.create(task())
    done = store.update(written.task_id, when={"working"}, status="completed", result={"x": 1})
    assert done is not None and done.status == "completed" and done.result == {"x": 1}
    assert other.update(written.task_id, when={"working"}, status="cancelled") is None
    assert other.get(written.task_id, "stdio") == done


def test_the_callers_conditions_hold_on_every_backend(
    stores: tuple[TaskBackend, TaskBackend],
) -> None:
    """server/task_runtime.py's `where` conditions (NULL-safe comparisons included)."""
    store, _ = stores
    unsent = store.create(task())
    store.update(unsent.task_id, prediction_id=None)
    assert store.update(unsent.task_id, where="prediction_id IS NULL", kind="x") is not None
    seen = store.update(
        unsent.task_id, where="atlas_state IS NOT ?", where_params=(FINISHING,), atlas_state="q"
    )
    assert seen is not None and seen.atlas_state == "q"
    assert store.update(unsent.task_id, where="atlas_state IS ?", where_params=(FINISHING,)) is None
    store.update(unsent.task_id, atlas_state=FINISHING)
    assert (
        store.update(unsent.task_id, where="atlas_state IS NOT ?", where_params=(FINISHING,))
        is None
    )
    done = store.update(
        unsent.task_id, where="atlas_state IS ?", where_params=(FINISHING,), status="completed"
    )
    assert done is not None and done.status == "completed"


def test_task_ids_are_unguessable() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 24 for i in ids)


def test_an_unopenable_file_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(LedgerError):
        TaskStore.open(tmp_path / "dir.sqlite3")


def test_one_process_claims_the_finish_and_a_dead_claim_can_be_retaken(
    stores: tuple[TaskBackend, TaskBackend],
) -> None:
    first, second = stores
    written = first.create(task())
    assert first.claim_finish(written.task_id, stale_after=600) is not None
    assert second.claim_finish(written.task_id, stale_after=600) is None
    assert second.claim_finish(written.task_id, stale_after=-1) is not None  # stale
    second.update(written.task_id, status="cancelled")
    assert first.claim_finish(written.task_id, stale_after=-1) is None  # not working


def test_of_many_claims_at_once_exactly_one_wins(stores: tuple[TaskBackend, TaskBackend]) -> None:
    """Two processes (threads on two stores: two connections) race for the finish."""
    first, second = stores
    for _ in range(5):
        written = first.create(task())
        won: list[TaskRecord | None] = []

        async def race(written: TaskRecord = written, won: list[TaskRecord | None] = won) -> None:
            async def one(store: TaskBackend) -> None:
                claimed = await anyio.to_thread.run_sync(
                    lambda: store.claim_finish(written.task_id, stale_after=600)
                )
                won.append(claimed)

            async with anyio.create_task_group() as tg:
                for store in (first, second, first, second):
                    tg.start_soon(one, store)

        anyio.run(race)
        assert len([w for w in won if w is not None]) == 1


def test_an_unreachable_postgresql_is_a_ledger_error_that_never_shows_the_password() -> None:
    """The server then runs without tasks (a plain answer), never with a crashed lifespan."""
    with pytest.raises(LedgerError) as caught:
        PostgresTaskStore.open("postgresql://atlas:hunter2-secret@127.0.0.1:1/jobs", timeout=1)
    assert "hunter2" not in str(caught.value)
    assert "postgresql://atlas@127.0.0.1:1/jobs" in str(caught.value)
