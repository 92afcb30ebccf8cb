"""Answers to a paid POST that cannot be understood (issue 21, item 7): nested 5,000 deep,
not UTF-8, an id of the wrong type. Each is an unknown outcome, never an internal error:
nothing is resent, the row leaves `submitting`, an id found in the raw bytes is checked
with Atlas first, and the history search runs as after a timeout. Real ledger file,
fake Atlas (`httpx2.MockTransport`) counting POSTs."""

from __future__ import annotations

import math
from pathlib import Path

import httpx2
import pytest

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import ModelInfo
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import APIResponseError, LostSubmission, Refused
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.plan import Plan
from atlas_mcp_py.jobs.submit import Submitter

pytestmark = pytest.mark.anyio

MODEL = ModelInfo(id="vendor/video-model", name="m", type="video", price=0.1)
SETTINGS = Settings(api_key="test-key", base_url="https://atlas.test", max_retries=0)
DEEP = b"[" * 5000 + b"]" * 5000
ANSWERS = {
    "nested": b'{"code":200,"data":{"id":"pred-7","status":"created","x":' + DEEP + b"}}",
    "not utf-8": b'{"code":200,"data":{"id":"pred-7","status":"created","note":"\xff\xfe"}}',
}


def atlas(answer: bytes, posts: list[httpx2.Request]) -> AtlasClient:
    def handle(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            posts.append(request)
            return httpx2.Response(
                200, content=answer, headers={"content-type": "application/json"}
            )
        if request.url.path.endswith("/history"):
            return httpx2.Response(200, json={"code": 200, "data": {"items": []}})
        pid = request.url.path.rsplit("/", 1)[1]
        if pid != "pred-7":
            return httpx2.Response(404, json={"code": 404, "msg": "not found"})
        data = {"id": pid, "status": "processing", "model": MODEL.id}
        return httpx2.Response(200, json={"code": 200, "data": data})

    return AtlasClient(SETTINGS, transport=httpx2.MockTransport(handle))


async def no_upload(name: str) -> str:
    raise AssertionError("no frames")


async def submitter(tmp_path: Path, client: AtlasClient) -> Submitter:
    book = await JobBook.open(tmp_path / "jobs.sqlite3")
    return Submitter(SETTINGS, client, book, history_delays=(0.0,))


@pytest.mark.parametrize("kind", sorted(ANSWERS))
async def test_an_unreadable_answer_is_an_unknown_outcome_whose_id_is_salvaged(
    tmp_path: Path, kind: str
) -> None:
    posts: list[httpx2.Request] = []
    async with atlas(ANSWERS[kind], posts) as client:
        jobs = await submitter(tmp_path, client)
        plan = Plan(MODEL, {"prompt": f"a lighthouse {kind}"}, {}, 0.1, True)
        async with jobs.submit(plan, upload=no_upload) as job:
            assert job.prediction.id == "pred-7"
            assert any("could not be read" in n and "confirmed" in n for n in job.notes)
        row = await jobs.book.get("pred-7")
        assert row is not None and row.state == "processing"
        assert len(posts) == 1
        jobs.book.close()


async def test_an_id_of_the_wrong_type_is_an_unknown_outcome_with_its_row_kept(
    tmp_path: Path,
) -> None:
    posts: list[httpx2.Request] = []
    answer = b'{"code":200,"data":{"id":{"nested":"pred-7"},"status":"created"}}'
    async with atlas(answer, posts) as client:
        jobs = await submitter(tmp_path, client)
        plan = Plan(MODEL, {"prompt": "a lighthouse"}, {}, 0.1, True)
        with pytest.raises(LostSubmission, match="NOT resent"):
            async with jobs.submit(plan, upload=no_upload):
                pass
        ledger = jobs.book.ledger
        assert ledger is not None
        assert [r.state for r in ledger.recent()] == ["unknown"]
        assert len(posts) == 1
        jobs.book.close()


async def test_non_finite_numbers_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    posts: list[httpx2.Request] = []
    async with atlas(b"{}", posts) as client:
        jobs = await submitter(tmp_path, client)
        plan = Plan(MODEL, {"prompt": "x", "guidance": math.nan}, {}, 0.1, True)
        with pytest.raises(Refused, match=r"params\.guidance is nan.*Nothing was sent"):
            async with jobs.submit(plan, upload=no_upload):
                pass
        ledger = jobs.book.ledger
        assert ledger is not None and ledger.recent() == []
        assert posts == []
        jobs.book.close()


async def test_a_schema_document_nested_too_deep_is_a_clear_error() -> None:
    document = b'{"openapi":"3.0.0","paths":{"/x":{"post":{"requestBody":' + DEEP + b"}}}}"

    def handle(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/api/v1/models":
            entry = {"model": MODEL.id, "type": "video", "schema": "https://static.test/s.json"}
            return httpx2.Response(200, json={"code": 200, "data": [entry]})
        return httpx2.Response(200, content=document, headers={"content-type": "application/json"})

    settings = Settings(api_key="test-key", base_url="https://atlas.test", max_retries=0)
    async with AtlasClient(settings, transport=httpx2.MockTransport(handle)) as client:
        with pytest.raises(APIResponseError, match="not JSON"):
            await client.get_input_schema(MODEL.id)
