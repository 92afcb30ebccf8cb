"""A server killed while it waits on a paid job loses nothing: the next server, on the same
ledger, lists the job as still running and `atlas_check_status` finishes it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest
from helpers import stdio_env, stdio_params, structured
from mcp import Client
from mcp.shared.exceptions import MCPError

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.records import JobRecord
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.0


def recorded(state: Path) -> list[JobRecord]:
    path = Ledger.default_path(state)
    if not path.exists():
        return []
    with Ledger.open(path) as ledger:
        return ledger.recent(10)


async def test_a_job_survives_its_server_being_killed_mid_wait(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    root, state = tmp_path / "project", tmp_path / "state"
    root.mkdir()
    params = stdio_params(stdio_env(sim, root, state, ATLAS_MCP_HEARTBEAT="0.3"), root)
    polled = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message and "processing" in message:
            polled.set()  # the server is inside its wait

    with anyio.fail_after(30):
        # 1. A server starts a long job and waits on it; it is killed mid-wait.
        async with Client(params) as first, anyio.create_task_group() as tg:

            async def generate() -> None:
                with pytest.raises(MCPError, match="Connection closed"):
                    await first.call_tool(
                        "atlas_generate_video",
                        {"prompt": "a long shot [sim:never]"},
                        progress_callback=on_progress,
                    )

            tg.start_soon(generate)
            await polled.wait()
            (row,) = await anyio.to_thread.run_sync(recorded, state)
            assert row.state == "processing" and row.pid is not None
            os.kill(row.pid, signal.SIGKILL)
        (job_id,) = sim.state.predictions
        assert sim.state.count("generate") == 1

        # 2. A new server on the same ledger lists the job as still running ...
        async with Client(params) as second:
            listed = await second.call_tool("atlas_list_jobs", {"status": "processing"})
            (job,) = structured(listed)["jobs"]
            assert job["prediction_id"] == job_id
            assert job["prompt"] == "a long shot [sim:never]"
            # ... and finishes it.
            sim.state.complete(job_id)
            done = await second.call_tool("atlas_check_status", {"prediction_id": job_id})
    assert structured(done)["status"] == "completed"
    assert structured(done)["video_url"]
    assert structured(done)["estimated_cost_usd"] == pytest.approx(
        0.196
    )  # the text-to-video default
    assert sim.state.count("generate") == 1  # nothing was ever sent twice
    (row,) = await anyio.to_thread.run_sync(recorded, state)
    assert row.state == "completed" and row.outputs == structured(done)["outputs"]
