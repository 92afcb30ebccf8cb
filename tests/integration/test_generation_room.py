"""The paid call through the use-case room alone: no MCP server, no MCP client.

A complete paid video (a local first frame uploaded, the job submitted once, waited on
with progress, the MP4 saved) runs through `atlas_mcp_py.generation` with plain hooks
against the simulator on 127.0.0.1. The second test runs the same call in a fresh
interpreter and shows that it imported nothing of `mcp` (nor `mcp_types`) and nothing of
`atlas_mcp_py.server`: the room runs where no MCP exists (a background task, a script).

This module imports nothing of `mcp` or of tests/helpers.py (which does) on purpose: the
subprocess imports it to run `paid_video`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import atlas_mcp_py
from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.files.roots import AllowedRoots
from atlas_mcp_py.files.uploads import UploadCache
from atlas_mcp_py.generation import GenerateRequest, Hooks, Services, generate
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.plan import GenerateArgs, Plan
from atlas_mcp_py.jobs.submit import Submitter
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio

FRAME = Path(atlas_mcp_py.__file__).parent / "assets" / "product.png"
"""A real PNG: the first frame the job animates."""

MP4_MAGIC = b"ftyp"


async def paid_video(base_url: str, folder: str) -> dict[str, Any]:
    """One paid image-to-video call through `generation.generate`, with hooks that record
    what they were asked: what a test (here, or in a subprocess) checks."""
    workspace = Path(folder)
    frame = workspace / "frame.png"
    frame.write_bytes(FRAME.read_bytes())
    settings = Settings(
        api_key=SIMULATOR_API_KEY,
        base_url=base_url,
        roots=(workspace,),
        state_dir=workspace / "state",
        poll_min_seconds=0.05,
        poll_max_seconds=0.1,
        heartbeat_seconds=0.2,
        max_retries=1,
    )
    progress: list[tuple[float, float | None, str]] = []
    confirmed: list[str] = []

    async def report(value: float, total: float | None, message: str) -> None:
        progress.append((value, total, message))

    async def confirm(plan: Plan) -> str | None:
        confirmed.append(plan.model.id)
        return None

    async def roots() -> AllowedRoots:
        return AllowedRoots.from_paths([workspace], "test")

    book = await JobBook.open(Ledger.default_path(settings.resolved_state_dir))
    try:
        async with AtlasClient(settings) as client:
            services = Services(
                settings=settings,
                client=client,
                roots=AllowedRoots.from_paths([workspace], "test"),
                book=book,
                submitter=Submitter(settings, client, book),
                uploads=UploadCache(settings.upload_reuse_seconds),
            )
            hooks = Hooks(roots=roots, progress=report, has_progress=True, confirm=confirm)
            args = GenerateArgs(None, "the product turns slowly", image=str(frame))
            request = GenerateRequest(args, save_to="product.mp4")
            result = await generate(services, hooks, request)
            record = await book.get(result.prediction_id or "")
    finally:
        book.close()
    saved = Path(result.local_path) if result.local_path else None
    return {
        "result": result.dump(),
        "confirmed": confirmed,
        "progress": [message for _, _, message in progress],
        "saved_head": saved.read_bytes()[:12].hex() if saved else None,
        "ledger": None if record is None else [record.state, record.local_path],
    }


def check_paid_video(outcome: dict[str, Any], sim: SimulatorServer, workspace: Path) -> None:
    result = outcome["result"]
    assert result["status"] == "completed", result
    assert result["model"] == "minimax/hailuo-02/fast"
    assert outcome["confirmed"] == ["minimax/hailuo-02/fast"]
    saved = workspace / "product.mp4"
    assert result["local_path"] == str(saved) and saved.stat().st_size == result["size_bytes"]
    assert MP4_MAGIC.hex() in outcome["saved_head"]
    assert outcome["ledger"] == ["completed", str(saved)]
    assert any(m.startswith("Atlas: completed") for m in outcome["progress"])
    assert sim.state.count("upload") == 1
    assert sim.state.count("generate") == 1
    (posted,) = [r for r in sim.state.requests if r.endpoint == "generate"]
    assert posted.prediction_id == result["prediction_id"]


async def test_a_paid_video_runs_through_the_generation_room_with_plain_hooks(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        outcome = await paid_video(sim.base_url, str(tmp_path))
    check_paid_video(outcome, sim, tmp_path)


def test_the_paid_call_imports_nothing_of_mcp_or_the_server(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    script = (
        "import json, sys, anyio\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_generation_room import paid_video\n"
        f"outcome = anyio.run(paid_video, {sim.base_url!r}, {str(tmp_path)!r})\n"
        "outcome['modules'] = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'mcp_types') or m.startswith('atlas_mcp_py.server'))\n"
        "outcome['generation'] = 'atlas_mcp_py.generation.paid' in sys.modules\n"
        "print(json.dumps(outcome))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["generation"] is True
    assert outcome["modules"] == []
    check_paid_video(outcome, sim, tmp_path)
