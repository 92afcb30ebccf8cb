"""A job seen completed stays completed (issue 21, item 10): when Atlas later says it is
processing again (a lagging replica, a flip), `atlas_check_status` reports it completed,
with the outputs seen then, and the ledger keeps it completed."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.generation.following import record_check
from atlas_mcp_py.jobs.book import JobBook

pytestmark = pytest.mark.anyio

API = "https://api.atlascloud.ai"
URL = "https://cdn.atlas.test/outputs/p1/video.mp4"


async def test_a_completed_job_reported_processing_again_stays_completed(tmp_path: Path) -> None:
    book = await JobBook.open(tmp_path / "jobs.sqlite3")
    done = Prediction(id="p1", status="completed", outputs=[URL], model="m")
    notes: list[str] = []
    seen, _ = await record_check(book, done, api_root=API, notes=notes)
    assert seen.state == "completed"
    flipped = Prediction(id="p1", status="processing", model="m")
    seen, _ = await record_check(book, flipped, api_root=API, notes=notes)
    assert seen.state == "completed" and seen.outputs == [URL]
    assert any("seen completed" in note for note in notes)
    again = await book.get("p1")
    assert again is not None and again.state == "completed"
    fresh = Prediction(id="p2", status="processing", model="m")
    seen, _ = await record_check(book, fresh, api_root=API, notes=[])
    assert seen.state == "processing"  # a job never seen completed is reported as it is
    book.close()
