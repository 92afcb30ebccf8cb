"""The ledger file deleted while the server runs (issue 21, item 5), through the tools
against the simulator: the next paid request is refused before anything is sent, naming
the fix, and no paid job is recorded only in a file nobody will read again."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from helpers import simulator_settings, structured, text_of
from mcp import Client

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


async def test_a_deleted_ledger_refuses_the_next_paid_job_naming_the_fix(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settings = simulator_settings(sim, workspace, state_dir=state)
    path = Ledger.default_path(state)
    async with Client(build_server(settings)) as client:
        with anyio.fail_after(30):
            first = await client.call_tool(
                "atlas_generate_video", {"prompt": "a fox", "wait": False}
            )
            assert not first.is_error, text_of(first)
            for each in state.glob(path.name + "*"):
                each.unlink()
            second = await client.call_tool(
                "atlas_generate_video", {"prompt": "a second fox", "wait": False}
            )
    assert second.is_error
    text = text_of(second)
    assert "Not sent" in text and "deleted or replaced" in text and "put the file back" in text
    assert sim.state.count("generate") == 1
    assert structured(first)["prediction_id"]
