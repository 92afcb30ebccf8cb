"""Stopping the server (`begin_shutdown`, what SIGTERM calls) in-process, in both eras."""

from __future__ import annotations

import anyio
import pytest
from helpers import MODES, simulator_settings, structured
from mcp import Client

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", MODES)
async def test_a_stop_that_comes_before_the_server_has_started_still_ends_every_wait(
    slow_sim: SimulatorServer, mode: str
) -> None:
    """A signal during start-up: the lifespan starts stopped, so a generate hands its job
    back at once instead of waiting out its budget."""
    server = build_server(simulator_settings(slow_sim, max_wait_seconds=600))
    server.begin_shutdown()
    with anyio.fail_after(20):
        async with Client(server, mode=mode) as client:
            result = await client.call_tool("atlas_generate_video", {"prompt": "a late kite"})
    data = structured(result)
    assert not result.is_error and data["status"] == "processing"
    assert data["prediction_id"] in {job.id for job in slow_sim.state.jobs()}
