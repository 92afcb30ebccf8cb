"""The poll schedule through the MCP tools against the simulator: a model's jobs that
ended before (this server's, or the ledger's) aim the polls of the next ones at their end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import simulator_settings, structured
from mcp import Client

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.config import DEFAULT_TEXT_MODEL, Settings
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

RUN = 1.0
"""Every job here runs this long ([sim:seconds=...])."""


def settings_for(sim: SimulatorServer, workspace: Path, state_dir: Path) -> Settings:
    # nothing known: polls at 0.05 s and 2.05 s (a 1 s job takes both); its run time
    # known: one poll, right after it (the guard polls are 2 s apart)
    return simulator_settings(
        sim, workspace, state_dir=state_dir, poll_min_seconds=0.05, poll_max_seconds=2.0
    )


async def generate(client: Client, prompt: str) -> str:
    result = await client.call_tool(
        "atlas_generate_video", {"prompt": f"{prompt} [sim:seconds={RUN:g}]"}
    )
    data = structured(result)
    assert data["status"] == "completed", data
    return str(data["prediction_id"])


async def test_a_models_second_job_is_polled_once_right_after_the_first_ones_run_time(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = settings_for(sim, workspace, tmp_path / "state")
    async with Client(build_server(settings)) as client:
        first = await generate(client, "a first fox")
        second = await generate(client, "a second fox")
    assert sim.state.count("prediction", first) == 2  # nothing known
    assert sim.state.count("prediction", second) == 1


async def test_run_times_in_the_ledger_aim_the_first_poll_of_a_new_server(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    with Ledger.open(Ledger.default_path(state_dir)) as ledger:
        for n in range(3):  # what an earlier server saw: jobs of this model took 1 s
            row = ledger.add(
                model=DEFAULT_TEXT_MODEL,
                api_root=sim.base_url,
                params={"prompt": f"earlier {n}"},
                params_hash=f"h{n}",
                created_at=time.time() - RUN,
            )
            ledger.attach(row.ref, Prediction(id=f"old{n}", status="completed"))
    async with Client(build_server(settings_for(sim, workspace, state_dir))) as client:
        job = await generate(client, "a fox after a restart")
    assert sim.state.count("prediction", job) == 1
