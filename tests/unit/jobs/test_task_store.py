"""The tasks table in the ledger's file: durable across connections, scoped to its
owner, state changes as compare-and-set."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from atlas_mcp_py.errors import LedgerError
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.tasks import TaskRecord, TaskStore, new_task_id


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


def test_another_owner_does_not_see_the_task(tmp_path: Path) -> None:
    store = TaskStore.open(tmp_path / "jobs.sqlite3")
    written = store.create(task(owner="token:aaaa"))
    assert store.get(written.task_id, "token:bbbb") is None
    assert store.get(written.task_id, "token:aaaa") is not None
    assert store.get("task-unknown", "token:aaaa") is None


def test_an_update_happens_only_from_the_given_statuses(tmp_path: Path) -> None:
    store = TaskStore.open(tmp_path / "jobs.sqlite3")
    written = store.create(task())
    done = store.update(written.task_id, when={"working"}, status="completed", result={"x": 1})
    assert done is not None and done.status == "completed" and done.result == {"x": 1}
    assert store.update(written.task_id, when={"working"}, status="cancelled") is None
    assert store.get(written.task_id, "stdio") == done


def test_task_ids_are_unguessable() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 24 for i in ids)


def test_an_unopenable_file_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(LedgerError):
        TaskStore.open(tmp_path / "dir.sqlite3")


def test_one_process_claims_the_finish_and_a_dead_claim_can_be_retaken(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    first, second = TaskStore.open(path), TaskStore.open(path)
    written = first.create(task())
    assert first.claim_finish(written.task_id, stale_after=600) is not None
    assert second.claim_finish(written.task_id, stale_after=600) is None
    assert second.claim_finish(written.task_id, stale_after=-1) is not None  # stale
    second.update(written.task_id, status="cancelled")
    assert first.claim_finish(written.task_id, stale_after=-1) is None  # not working
