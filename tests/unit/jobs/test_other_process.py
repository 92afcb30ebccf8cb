"""A generate call that finds the identical request being sent by another server process
(its `submitting` row in the shared ledger) waits for that process's answer instead of
sending, and never sends on a guess: run against a real ledger file, with a fake Atlas
(`httpx2.MockTransport`) that counts POSTs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import ModelInfo, Prediction
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import Refused
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.plan import Plan, canonical
from atlas_mcp_py.jobs.submit import Submitter

pytestmark = pytest.mark.anyio

MODEL = ModelInfo(id="minimax/hailuo-02/fast", name="m", type="video", price=0.1)
PLAN = Plan(MODEL, {"prompt": "a lighthouse"}, {}, 0.1, True)
OTHER_PID = 1
"""A live process that is not this one (init): the "other server"."""


@pytest.fixture
def posts() -> list[httpx2.Request]:
    return []


@pytest.fixture
def settings() -> Settings:
    return Settings(api_key="test-key", base_url="https://atlas.test")


@pytest.fixture
def client(posts: list[httpx2.Request], settings: Settings) -> AtlasClient:
    def atlas(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            posts.append(request)
            return httpx2.Response(200, json={"code": 200, "data": {"id": "mine"}})
        data = {"id": request.url.path.rsplit("/", 1)[1], "status": "processing"}
        return httpx2.Response(200, json={"code": 200, "data": data})

    return AtlasClient(settings, transport=httpx2.MockTransport(atlas))


def other_process_claims(path: Path, settings: Settings) -> int:
    """Write the row another server writes just before its POST; returns its ref."""
    with Ledger.open(path) as ledger:
        claim = ledger.claim(
            model=MODEL.id,
            api_root=settings.base_url,
            params=dict(PLAN.body),
            params_hash=canonical(PLAN, {})[1],
            prompt="a lighthouse",
            since=None,
        )
    assert claim.row is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET pid = ? WHERE ref = ?", (OTHER_PID, claim.row.ref))
    return claim.row.ref


async def no_upload(name: str) -> str:
    raise AssertionError("no frames to upload")


async def test_the_twin_waits_for_the_other_process_and_returns_its_job(
    tmp_path: Path, settings: Settings, client: AtlasClient, posts: list[httpx2.Request]
) -> None:
    assert os.getpid() != OTHER_PID
    path = tmp_path / "jobs.sqlite3"
    ref = other_process_claims(path, settings)
    book = await JobBook.open(path)
    submitter = Submitter(settings, client, book)

    async def other_process_answers() -> None:
        await anyio.sleep(0.3)
        with Ledger.open(path) as ledger:
            ledger.attach(ref, Prediction(id="theirs", status="processing"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(other_process_answers)
            async with submitter.submit(PLAN, upload=no_upload, queue_budget=8) as job:
                assert job.prediction.id == "theirs"
                assert job.duplicate_of is not None
    assert posts == []
    book.close()


async def test_the_twin_refuses_rather_than_send_when_the_other_never_answers_or_the_ledger_fails(
    tmp_path: Path, settings: Settings, client: AtlasClient, posts: list[httpx2.Request]
) -> None:
    path = tmp_path / "jobs.sqlite3"
    other_process_claims(path, settings)
    book = await JobBook.open(path)
    submitter = Submitter(settings, client, book)
    with anyio.fail_after(10):
        with pytest.raises(Refused, match="being sent right now by another atlas-mcp server"):
            async with submitter.submit(PLAN, upload=no_upload, queue_budget=0.3):
                pass
        ledger = book.ledger
        assert ledger is not None

        async def ledger_fails_meanwhile() -> None:
            await anyio.sleep(0.2)
            await anyio.to_thread.run_sync(ledger.close)

        # a row that cannot be read is not a row that is gone: refused, not sent
        async with anyio.create_task_group() as tg:
            tg.start_soon(ledger_fails_meanwhile)
            with pytest.raises(Refused, match="Nothing was sent or billed"):
                async with submitter.submit(PLAN, upload=no_upload, queue_budget=5):
                    pass
    assert posts == []
